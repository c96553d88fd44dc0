// Package schedule is the schedule model of Kiln's recurring jobs: it parses
// cron specs and intervals and computes their fire times. It is a pure
// library, with no clock and no storage: callers pass the time to compute
// from, and every result is in UTC.
//
// A [Schedule] comes from [Parse] (a cron spec, a descriptor such as @daily,
// or "@every 1h30m"), from [Every] or from [EveryFrom]. The helpers
// [Minutely], [Hourly], [Daily], [Weekly], [Monthly] and [Yearly] build cron
// specs as Hangfire's Cron class does, [Interval] and [IntervalFrom] build
// "@every" specs from days, hours and minutes, and [Describe] says in English
// what a spec does.
//
// # Cron specs and time zones
//
// A cron spec is read in the wall-clock time of the zone given to Parse:
// "30 9 * * *" in Europe/Berlin fires when clocks in Berlin show 09:30,
// whatever the offset from UTC is that day. A wall-clock time matches when every field
// matches it. Most days each matching wall-clock time happens exactly once
// and the schedule fires at that instant. On days when the zone changes its
// offset (daylight-saving time, or a change of standard time), Kiln applies
// these rules, which are those of Hangfire's Cronos library (ISC cron's
// handling of clock changes is close to them):
//
//   - Clocks jump forward (spring forward). Wall-clock times in the skipped
//     span, such as 02:00-02:59 in New York on 8 March 2026, do not exist.
//     A schedule matching one or more of them fires exactly once, at the
//     instant of the jump, which is the first instant after the gap (03:00
//     EDT = 07:00 UTC in that example). It is never skipped for that day. If
//     the first wall-clock time after the gap also matches (03:00 for
//     "*/15 * * * *"), that is the same instant and it fires once. On Lord Howe
//     Island, where clocks jump from 02:00 to 02:30, "15 2 * * *" fires at
//     02:30 local time on that day.
//
//   - Clocks jump back (fall back). Wall-clock times in the repeated span,
//     such as 01:00-01:59 in New York on 1 November 2026, happen twice, first
//     at the daylight offset and then at the standard offset. What happens
//     depends on the second, minute and hour fields:
//
//     A fixed-time schedule, whose second, minute and hour fields are plain
//     numbers or lists of numbers ("30 1 * * *", "0 0,45 1,2 * * *",
//     @daily), fires once, at the first instance (01:30 EDT = 05:30 UTC), and
//     not again an hour later: it fires the same number of times on that day
//     as on any other.
//
//     An interval schedule, whose second, minute or hour field holds "*", a
//     range or a step ("0 * * * *", "*/15 * * * *", "0 9-17 * * *",
//     @hourly), fires at every instant whose wall-clock time matches,
//     including both instances of the repeated span: "0 * * * *" in New York
//     fires at 00:00 EDT, 01:00 EDT, 01:00 EST and 02:00 EST (04:00, 05:00,
//     06:00 and 07:00 UTC), one real hour apart. Its rhythm is kept and no
//     real hour is left without a run.
//
//   - Both rules apply wherever a transition falls: at 02:00 or 03:00 (most
//     zones), at midnight (America/Santiago, America/Havana) and for shifts
//     of other sizes (30 minutes on Lord Howe Island).
//
// Fire times are always strictly increasing: Next(t) is after t, and
// successive fire times never repeat, even when several wall-clock times map
// to one instant.
//
// When both the day-of-month and the day-of-week fields are restricted, a day
// matches when either one matches ("0 0 13 * FRI" fires on every 13th and on
// every Friday), as POSIX crontab and Vixie cron do. This differs from
// Cronos, which requires both.
//
// # Intervals
//
// An interval ([Every], [EveryFrom], "@every") fires at fixed absolute
// instants, anchor + k*d for k = 0, 1, 2, ..., and ignores time zones and
// daylight-saving time: "@every 24h" fires at the same UTC time each day,
// which moves by an hour on the wall clock across a transition. Without an
// anchor the Unix epoch is used, so every process that builds the same
// interval agrees on its fire times; this is not the time a recurring job
// is defined, so "@every 26h30m" ([Interval](1, 2, 30)) first fires anywhere
// within 26h30m of it. [IntervalFrom] and "@every <d> from <time>" count
// from a time of your choosing.
//
// # Parsing
//
// Cron fields are parsed with github.com/netresearch/go-cron, the maintained
// successor of robfig/cron, after this package has checked each field so that
// an error can name the field and value at fault. Fire times, time zones and
// daylight-saving time are computed here, not by go-cron.
package schedule
