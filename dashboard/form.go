package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/schedule"
)

// jobForm is the form that creates a one-off job (Recurring false) or
// creates or edits a recurring entry: its values as typed, and an error
// per field (key: the field's name; "" for the form as a whole).
type jobForm struct {
	Recurring bool
	// Editing is true when the form edits the existing entry ID.
	Editing bool
	Kinds   []string

	ID, Kind, Args, Queue, Priority, MaxAttempts, Tags string
	Schedule, TimeZone, Overlap, Misfire, RunIn        string
	// Partition is the partition key of the job, or of every job of the
	// recurring entry ("" none).
	Partition string

	// argsForm is the kind's args schema and its inputs (form_args.go).
	argsForm

	Errors map[string]string
}

// formField is one field of the form: the key of its error in
// jobForm.Errors, the ID of its input and its label.
type formField struct {
	Name, ID, Label string
}

// formFields are the form's fields in the order the page shows them.
var formFields = []formField{
	{"id", "f-id", "ID"}, {"kind", "f-kind", "Kind"}, {"args", "f-args", "Args"},
	{"schedule", "f-schedule", "Schedule"}, {"time_zone", "f-tz", "Time zone"},
	{"overlap", "f-overlap", "Overlap"}, {"misfire", "f-misfire", "Misfire"},
	{"run_in", "f-runin", "Run in"}, {"queue", "f-queue", "Queue"}, {"priority", "f-priority", "Priority"},
	{"max_attempts", "f-max", "Max attempts"}, {"tags", "f-tags", "Tags"},
	{"partition", "f-partition", "Partition key"},
}

// ErrorFields lists the fields that have an error, in the page's order,
// for the summary above the form; an error recorded under a key that is
// no field of the page is listed last, by its key, without an input ID.
func (f *jobForm) ErrorFields() []formField {
	var out []formField
	for _, ff := range formFields {
		if _, ok := f.Errors[ff.Name]; ok {
			out = append(out, ff)
		}
	}
	var other []string
	for k := range f.Errors {
		if k != "" && !slices.ContainsFunc(formFields, func(ff formField) bool { return ff.Name == k }) {
			other = append(other, k)
		}
	}
	slices.Sort(other)
	for _, k := range other {
		if ff, ok := f.argFieldOf(k); ok {
			out = append(out, ff)
			continue
		}
		out = append(out, formField{Name: k, Label: k})
	}
	return out
}

// fieldError records msg as the error of field.
func (f *jobForm) fieldError(field, msg string) {
	if _, dup := f.Errors[field]; !dup {
		f.Errors[field] = msg
	}
}

// readJobForm reads the submitted form.
func readJobForm(r *http.Request, recurring bool) *jobForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return &jobForm{
		Recurring: recurring, Errors: map[string]string{},
		ID: v("id"), Kind: v("kind"), Args: v("args"), Queue: v("queue"), Priority: v("priority"),
		MaxAttempts: v("max_attempts"), Tags: v("tags"), Schedule: v("schedule"), TimeZone: v("time_zone"),
		Overlap: v("overlap"), Misfire: v("misfire"), RunIn: v("run_in"), Partition: v("partition"),
	}
}

// validate checks every field and turns the form into args and options.
// Errors are recorded per field, every field's at once; opts holds only
// the fields that are valid, so that the client's check of the rest
// (clientCheck) adds no error twice.
func (f *jobForm) validate() (kiln.RawArgs, *kiln.EnqueueOpts) {
	opts := &kiln.EnqueueOpts{}
	switch {
	case f.Kind == "":
		f.fieldError("kind", "Choose the kind of job.")
	case len(f.Kinds) > 0 && !slices.Contains(f.Kinds, f.Kind):
		f.fieldError("kind", fmt.Sprintf("No worker is registered for kind %q.", f.Kind))
	}
	args := f.Args
	if args == "" {
		args = "{}"
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(args), &obj); err != nil || obj == nil {
		msg := "Args must be a JSON object, such as {\"to\": \"a@example.com\"}"
		var se *json.SyntaxError
		if errors.As(err, &se) {
			msg += fmt.Sprintf(": invalid JSON at byte %d (%v)", se.Offset, se)
		}
		f.fieldError("args", msg+".")
	}
	if f.Queue != "" && (len(f.Queue) > 128 || strings.ContainsFunc(f.Queue, func(r rune) bool { return r <= ' ' || r == 0x7f })) {
		f.fieldError("queue", "A queue name has 1 to 128 bytes and no spaces.")
	} else {
		opts.Queue = f.Queue
	}
	if f.Priority != "" {
		n, err := strconv.Atoi(f.Priority)
		if err != nil || n < kiln.PriorityHighest || n > kiln.PriorityLowest {
			f.fieldError("priority", fmt.Sprintf("Priority is a number from %d (first) to %d (last).", kiln.PriorityHighest, kiln.PriorityLowest))
		} else {
			opts.Priority = n
		}
	}
	if f.MaxAttempts != "" {
		n, err := strconv.Atoi(f.MaxAttempts)
		if err != nil || n < 1 {
			f.fieldError("max_attempts", fmt.Sprintf("Max attempts is a whole number, at least 1 and at most %d.", kiln.MaxAttemptsLimit))
		} else {
			opts.MaxAttempts = n
		}
	}
	for t := range strings.SplitSeq(f.Tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			opts.Tags = append(opts.Tags, t)
		}
	}
	opts.Partition = f.Partition // the client checks it
	if f.Recurring {
		f.validateSchedule()
	} else if f.RunIn != "" {
		d, err := time.ParseDuration(f.RunIn)
		if err != nil || d < 0 {
			f.fieldError("run_in", "A delay such as 30s, 10m or 2h; empty runs the job now.")
		} else {
			opts.RunIn = d
		}
	}
	return kiln.RawArgs{JobKind: f.Kind, JSON: json.RawMessage(args)}, opts
}

// jobChecked reports whether the kind and args fields (and the args'
// inputs) passed validate and the schema check, so that the client can
// check that the args decode into the kind's type.
func (f *jobForm) jobChecked() bool {
	_, kindErr := f.Errors["kind"]
	return !kindErr && !f.argsFailed()
}

// validateSchedule checks the recurring fields: ID, time zone, schedule
// and policies.
func (f *jobForm) validateSchedule() {
	if f.ID == "" || len(f.ID) > 200 {
		f.fieldError("id", "The ID names the entry: 1 to 200 bytes.")
	}
	tz := f.TimeZone
	if tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			f.fieldError("time_zone", fmt.Sprintf("Unknown time zone %q: use an IANA name such as Europe/Berlin, or leave empty for UTC.", f.TimeZone))
			tz = "" // the schedule is checked all the same
		}
	}
	if f.Schedule == "" {
		f.fieldError("schedule", "Give a cron expression (\"*/5 * * * *\"), a descriptor (@hourly) or an interval (@every 30s).")
	} else if _, err := schedule.Parse(f.Schedule, tz); err != nil {
		f.fieldError("schedule", err.Error())
	}
	if f.Overlap != "" && !kiln.OverlapPolicy(f.Overlap).Valid() {
		f.fieldError("overlap", "Overlap is skip, allow or queue_one.")
	}
	if f.Misfire != "" && !kiln.MisfirePolicy(f.Misfire).Valid() {
		f.fieldError("misfire", "Misfire is run_once, skip or run_all.")
	}
}

// clientError records an error the client returned when checking or
// saving next to the form field its *kiln.ValidationError names (args for
// "args.name", tags for "tags[2]"), or on the form as a whole.
func (f *jobForm) clientError(err error) {
	var ve *kiln.ValidationError
	if errors.As(err, &ve) {
		if key := f.argErrorKey(ve.Field); key != "" {
			f.fieldError(key, ve.Message)
			return
		}
		if field := errorKey(ve.Field); field != "" {
			f.fieldError(field, ve.Error())
			return
		}
	}
	f.fieldError("", strings.TrimPrefix(strings.TrimPrefix(err.Error(), "kiln: "), "enqueue: "))
}

// errorKey returns the key in jobForm.Errors of the form field that shows
// errors of the client's field ("args" for "args.name", "tags" for
// "tags[2]"), or "" if the page has no such field.
func errorKey(field string) string {
	if i := strings.IndexAny(field, ".["); i >= 0 {
		field = field[:i]
	}
	if field == "run_at" {
		return "run_in"
	}
	if slices.ContainsFunc(formFields, func(ff formField) bool { return ff.Name == field }) {
		return field
	}
	return ""
}

// formFromRow fills a form with a stored entry, for editing.
func formFromRow(row *kilntype.RecurringRow) *jobForm {
	return &jobForm{
		Recurring: true, Editing: true, Errors: map[string]string{},
		ID: row.ID, Kind: row.Kind, Args: prettyJSON(row.Args), Queue: row.Queue,
		Priority: strconv.Itoa(row.Priority), MaxAttempts: strconv.Itoa(row.MaxAttempts), Tags: strings.Join(row.Tags, ", "),
		Schedule: row.Schedule, TimeZone: row.TimeZone, Overlap: string(row.Overlap), Misfire: string(row.Misfire),
		Partition: row.Partition,
	}
}

// renderForm shows the form with status (400 when it has errors).
func (h *handler) renderForm(w http.ResponseWriter, r *http.Request, f *jobForm) {
	if f.Kinds == nil {
		f.Kinds = h.kinds(r.Context())
	}
	status := http.StatusOK
	if len(f.Errors) > 0 {
		status = http.StatusBadRequest
	}
	title, nav := "New job", "jobs"
	switch {
	case f.Editing:
		title, nav = "Edit recurring job "+f.ID, "recurring"
	case f.Recurring:
		title, nav = "New recurring job", "recurring"
	}
	h.render(w, r, status, "form", &page{Title: title, Nav: nav, Data: f})
}

// jobNewForm serves the empty one-off job form.
func (h *handler) jobNewForm(w http.ResponseWriter, r *http.Request) {
	f := &jobForm{Kind: r.URL.Query().Get("kind"), Args: "{}", Errors: map[string]string{}}
	h.loadSchema(f, "")
	f.defaultArgs()
	h.renderForm(w, r, f)
}

// recurringNewForm serves the empty recurring entry form.
func (h *handler) recurringNewForm(w http.ResponseWriter, r *http.Request) {
	f := &jobForm{Recurring: true, Kind: r.URL.Query().Get("kind"), Args: "{}", Overlap: string(kilntype.OverlapSkip), Misfire: string(kilntype.MisfireRunOnce), Errors: map[string]string{}}
	h.loadSchema(f, "")
	f.defaultArgs()
	h.renderForm(w, r, f)
}

// recurringEditForm serves the form filled with an entry.
func (h *handler) recurringEditForm(w http.ResponseWriter, r *http.Request) {
	row, err := h.client.RecurringGet(r.Context(), r.PathValue("id"))
	if errors.Is(err, kilntype.ErrNotFound) {
		h.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found", Data: fmt.Sprintf("There is no recurring job %q.", r.PathValue("id"))})
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if row.ArgsEncrypted && h.hideArgs(r) {
		job := &kilntype.JobRow{Args: row.Args, ArgsEncrypted: true}
		kiln.RedactArgs(job)
		row.Args = job.Args
	}
	f := formFromRow(row)
	h.loadSchema(f, "")
	f.fillInputs()
	h.renderForm(w, r, f)
}

// jobCreate serves POST /jobs/new: it validates the form and enqueues the
// job, or shows the form again with the errors next to their fields.
func (h *handler) jobCreate(w http.ResponseWriter, r *http.Request) {
	f := readJobForm(r, false)
	f.Kinds = h.kinds(r.Context())
	h.loadSchema(f, postedArgsMode(r))
	f.readArgInputs(r)
	args, opts := f.validate()
	f.checkSchema()
	if f.jobChecked() {
		if err := h.client.EnqueueCheck(args, opts); err != nil {
			f.clientError(err)
		}
	}
	if len(f.Errors) > 0 {
		h.renderForm(w, r, f)
		return
	}
	res, err := h.client.Enqueue(r.Context(), args, opts)
	if err != nil {
		f.clientError(err)
		h.renderForm(w, r, f)
		return
	}
	h.redirect(w, r, fmt.Sprintf("/jobs/%d", res.Job.ID), flash{Text: fmt.Sprintf("Job %d enqueued.", res.Job.ID)})
}

// recurringSave serves POST /recurring/new and /recurring/{id}/edit: it
// validates the form and stores the entry, or shows the form again with the
// errors next to their fields.
func (h *handler) recurringSave(w http.ResponseWriter, r *http.Request) {
	f := readJobForm(r, true)
	ctx := r.Context()
	if id := r.PathValue("id"); id != "" {
		f.ID, f.Editing = id, true
	}
	f.Kinds = h.kinds(ctx)
	h.loadSchema(f, postedArgsMode(r))
	f.readArgInputs(r)
	args, opts := f.validate()
	f.checkSchema()
	def := kiln.RecurringJob{
		ID: f.ID, Schedule: f.Schedule, TimeZone: f.TimeZone, Args: args, Opts: opts,
		Overlap: kiln.OverlapPolicy(f.Overlap), Misfire: kiln.MisfirePolicy(f.Misfire),
	}
	// The client checks what validate could not, even when some fields
	// have errors, so that one submit shows every error: the whole entry
	// when all fields passed, else the kind and args.
	switch {
	case len(f.Errors) == 0:
		if err := h.client.RecurringCheck(def); err != nil {
			f.clientError(err)
		}
	case f.jobChecked():
		if err := h.client.EnqueueCheck(args, opts); err != nil {
			f.clientError(err)
		}
	}
	if _, idErr := f.Errors["id"]; !f.Editing && !idErr {
		if _, err := h.client.RecurringGet(ctx, f.ID); err == nil {
			f.fieldError("id", fmt.Sprintf("A recurring job %q exists already: edit it, or choose another ID.", f.ID))
		}
	}
	if len(f.Errors) > 0 {
		h.renderForm(w, r, f)
		return
	}
	row, err := h.client.RecurringAddOrUpdate(ctx, def)
	if err != nil {
		f.clientError(err)
		h.renderForm(w, r, f)
		return
	}
	h.redirect(w, r, "/recurring", flash{Text: fmt.Sprintf("Recurring job %q saved; next run %s.", row.ID, formatTime(row.NextRunAt))})
}

// kinds returns the kinds the forms offer: Options.Kinds, or the kinds of
// the client's workers and of the live servers, sorted.
func (h *handler) kinds(ctx context.Context) []string {
	if h.opts.Kinds != nil {
		return h.opts.Kinds
	}
	return h.registeredKinds(ctx)
}
