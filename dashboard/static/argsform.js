// Kiln dashboard: the args of the job forms, for a kind whose args have a
// JSON Schema (the block #f-args-block with data-schema). It shows either
// the inputs or the JSON textarea, as the "Fields / JSON" choice says,
// carries the args over when the choice changes, and checks them against
// the schema before the form is sent, showing each problem next to its
// input. The server checks them again; without this script the form
// works the same, with both inputs and textarea shown.
"use strict";
(function () {
  function block() { return document.getElementById("f-args-block"); }

  function schemaOf(b) {
    try { return JSON.parse(b.dataset.schema || "null"); } catch (e) { return null; }
  }

  function mode(b) {
    var r = b.querySelector('input[name="args_mode"]:checked');
    return r ? r.value : "json";
  }

  function kind() {
    var k = document.getElementById("f-kind");
    return k ? k.value : "";
  }

  // show hides the part of the block the choice does not send.
  function show(b) {
    if (!b || !b.dataset.schema) { return; }
    var m = mode(b);
    b.querySelectorAll("[data-args-section]").forEach(function (s) { s.hidden = s.dataset.argsSection !== m; });
  }

  function init() {
    show(block());
  }

  // fromInputs returns the args the inputs make, as the server makes them:
  // empty inputs left out, a checkbox true or false; and the inputs whose
  // text is no value of their type.
  function fromInputs(b) {
    var obj = {}, errs = [];
    b.querySelectorAll("[data-arg]").forEach(function (el) {
      var name = el.dataset.arg, input = el.dataset.argInput, type = el.dataset.argType;
      if (input === "boolean") { obj[name] = el.checked; return; }
      var v = el.value;
      if (type !== "string") { v = v.trim(); }
      if (v === "") { return; }
      if (type === "string") {
        obj[name] = v;
      } else if (input === "json") {
        try { obj[name] = JSON.parse(v); } catch (e) { errs.push(["args." + name, "Not valid JSON: " + e.message]); }
      } else if (type === "integer" && !/^-?\d+$/.test(v)) {
        errs.push(["args." + name, "A whole number, such as 42."]);
      } else if (type !== "integer" && (!isFinite(Number(v)) || !/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v))) {
        errs.push(["args." + name, "A number, such as 1.5."]);
      } else {
        obj[name] = Number(v);
      }
    });
    return { obj: obj, errs: errs };
  }

  // toInputs sets the inputs from args; false if some value has no input
  // that can show it.
  function toInputs(b, obj) {
    if (!obj || typeof obj !== "object" || Array.isArray(obj)) { return false; }
    var els = b.querySelectorAll("[data-arg]"), known = {}, ok = true;
    els.forEach(function (el) { known[el.dataset.arg] = true; });
    Object.keys(obj).forEach(function (k) { if (!known[k] && obj[k] !== null) { ok = false; } });
    if (!ok) { return false; }
    els.forEach(function (el) {
      var v = obj[el.dataset.arg], input = el.dataset.argInput, type = el.dataset.argType;
      if (v === undefined || v === null) {
        if (input === "boolean") { el.checked = false; } else { el.value = ""; }
      } else if (input === "boolean") {
        el.checked = v === true;
      } else if (input === "json") {
        el.value = JSON.stringify(v);
      } else if ((type === "string") === (typeof v === "string") && typeof v !== "object") {
        el.value = String(v);
      } else {
        ok = false;
      }
    });
    return ok;
  }

  function jsonType(v) {
    if (v === null) { return "null"; }
    if (Array.isArray(v)) { return "array"; }
    if (typeof v === "number") { return Number.isInteger(v) ? "integer" : "number"; }
    return typeof v;
  }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  function article(t) { return (/^[aeiou]/.test(t) ? "an " : "a ") + t; }

  // check appends to out the [field, message] problems of v against the
  // schema s (root holds the $defs): the keywords the generated schemas
  // use. Formats are left to the server.
  function check(s, root, v, path, out) {
    if (s === true || s === undefined || s === null) { return; }
    if (s === false) { out.push([path, "not allowed"]); return; }
    if (s.$ref) {
      var m = /^#\/\$defs\/(.+)$/.exec(s.$ref);
      if (m && root.$defs && root.$defs[m[1]]) { check(root.$defs[m[1]], root, v, path, out); }
    }
    var t = jsonType(v);
    if (s.type) {
      var want = [].concat(s.type);
      if (!want.some(function (w) { return w === t || (w === "number" && t === "integer"); })) {
        out.push([path, "got a JSON " + (t === "integer" ? "number" : t) + ": the args of kind \"" + kind() + "\" do not decode into their Go type, which wants " + want.map(article).join(" or ") + " there"]);
        return;
      }
    }
    if (s.enum && !s.enum.some(function (e) { return same(e, v); })) {
      out.push([path, "value must be one of " + s.enum.map(function (e) { return JSON.stringify(e); }).join(", ")]);
    }
    if ("const" in s && !same(s.const, v)) { out.push([path, "value must be " + JSON.stringify(s.const)]); }
    if (t === "integer" || t === "number") {
      if (s.minimum !== undefined && v < s.minimum) { out.push([path, "minimum: got " + v + ", want " + s.minimum]); }
      if (s.maximum !== undefined && v > s.maximum) { out.push([path, "maximum: got " + v + ", want " + s.maximum]); }
      if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) { out.push([path, "exclusiveMinimum: got " + v + ", want " + s.exclusiveMinimum]); }
      if (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum) { out.push([path, "exclusiveMaximum: got " + v + ", want " + s.exclusiveMaximum]); }
    }
    if (t === "string") {
      var n = Array.from(v).length;
      if (s.minLength !== undefined && n < s.minLength) { out.push([path, "minLength: got " + n + ", want " + s.minLength]); }
      if (s.maxLength !== undefined && n > s.maxLength) { out.push([path, "maxLength: got " + n + ", want " + s.maxLength]); }
      if (s.pattern) {
        try {
          if (!new RegExp(s.pattern, "u").test(v)) { out.push([path, "does not match pattern " + JSON.stringify(s.pattern)]); }
        } catch (e) { /* a pattern JavaScript cannot read: the server checks it */ }
      }
    }
    if (t === "array") {
      if (s.minItems !== undefined && v.length < s.minItems) { out.push([path, "minItems: got " + v.length + ", want " + s.minItems]); }
      if (s.maxItems !== undefined && v.length > s.maxItems) { out.push([path, "maxItems: got " + v.length + ", want " + s.maxItems]); }
      if (s.items !== undefined) { v.forEach(function (e, i) { check(s.items, root, e, path + "[" + i + "]", out); }); }
    }
    if (t === "object") {
      var props = s.properties || {};
      (s.required || []).forEach(function (p) {
        if (!(p in v)) { out.push([path + "." + p, "missing: the args of kind \"" + kind() + "\" require it"]); }
      });
      Object.keys(v).forEach(function (k) {
        if (k in props) { check(props[k], root, v[k], path + "." + k, out); return; }
        var matched = false;
        Object.keys(s.patternProperties || {}).forEach(function (p) {
          if (new RegExp(p, "u").test(k)) { matched = true; check(s.patternProperties[p], root, v[k], path + "." + k, out); }
        });
        if (matched) { return; }
        if (s.additionalProperties === false) {
          var msg = "unknown field \"" + k + "\": the args of kind \"" + kind() + "\" have no such field";
          if (path === "args" && Object.keys(props).length) {
            msg += "; its fields are " + Object.keys(props).map(function (p) { return JSON.stringify(p); }).join(", ");
          }
          out.push([path + "." + k, msg]);
        } else if (s.additionalProperties !== undefined) {
          check(s.additionalProperties, root, v[k], path + "." + k, out);
        }
      });
    }
    (s.allOf || []).forEach(function (sub) { check(sub, root, v, path, out); });
    ["anyOf", "oneOf"].forEach(function (kw) {
      if (!s[kw]) { return; }
      var fits = s[kw].filter(function (sub) { var o = []; check(sub, root, v, path, o); return o.length === 0; }).length;
      if (fits === 0 || (kw === "oneOf" && fits > 1)) { out.push([path, kw + " failed"]); }
    });
  }

  // dropNulls leaves out the members whose value is null, as the server
  // does (Go's decoder ignores them).
  function dropNulls(v) {
    if (Array.isArray(v)) { return v.map(dropNulls); }
    if (v && typeof v === "object") {
      var o = {};
      Object.keys(v).forEach(function (k) { if (v[k] !== null) { o[k] = dropNulls(v[k]); } });
      return o;
    }
    return v;
  }

  // showErrors puts each problem next to its input (fields) or on the
  // args textarea, and focuses the first.
  function showErrors(b, errs) {
    b.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
    // The server's summary of an earlier submit no longer holds.
    document.querySelectorAll(".error-summary").forEach(function (el) { el.remove(); });
    var onArgs = [], first = null, m = mode(b);
    errs.forEach(function (e) {
      var name = e[0].replace(/^args\./, "").split(/[.[]/)[0];
      var el = m === "fields" && e[0] !== "args" ? b.querySelector('[data-arg="' + CSS.escape(name) + '"]') : null;
      if (!el) { onArgs.push(e[0] + ": " + e[1]); return; }
      addError(el, e[1]);
      first = first || el;
    });
    if (onArgs.length) {
      var ta = document.getElementById("f-args");
      addError(ta, onArgs.join("; "));
      first = first || ta;
    }
    if (first) { first.focus(); }
  }

  function addError(el, msg) {
    var field = el.closest(".field");
    if (field.querySelector(".field-error")) { return; }
    var p = document.createElement("p");
    p.className = "field-error";
    p.setAttribute("role", "alert");
    p.textContent = msg;
    field.appendChild(p);
  }

  document.addEventListener("submit", function (ev) {
    var b = ev.target.querySelector && ev.target.querySelector("#f-args-block");
    if (!b || !b.dataset.schema || (ev.submitter && ev.submitter.hasAttribute("formnovalidate"))) { return; }
    var s = schemaOf(b);
    if (!s) { return; }
    var errs = [], obj;
    if (mode(b) === "fields") {
      var r = fromInputs(b);
      errs = r.errs;
      obj = r.obj;
      document.getElementById("f-args").value = JSON.stringify(obj, null, 2);
    } else {
      try {
        obj = JSON.parse(document.getElementById("f-args").value.trim() || "{}");
      } catch (e) {
        errs.push(["args", "Args must be a JSON object: " + e.message + "."]);
      }
    }
    if (!errs.length) { check(s, s, dropNulls(obj), "args", errs); }
    if (errs.length) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
      showErrors(b, errs);
    }
  });

  // Switching between fields and JSON carries the args over; JSON that the
  // inputs cannot show stays JSON, with the reason.
  document.addEventListener("change", function (ev) {
    if (ev.target.name !== "args_mode") { return; }
    var b = block();
    var ta = document.getElementById("f-args");
    if (ev.target.value === "json") {
      var r = fromInputs(b);
      if (!r.errs.length) { ta.value = JSON.stringify(r.obj, null, 2); }
    } else {
      var obj = null;
      try { obj = JSON.parse(ta.value.trim() || "{}"); } catch (e) { /* below */ }
      if (!toInputs(b, obj)) {
        b.querySelector('input[name="args_mode"][value="json"]').checked = true;
        showErrors(b, [["args", "These args do not fit the fields (not an object, a field the kind lacks, or a value of another type): fix them here, or clear them."]]);
      }
    }
    show(b);
  });

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", init);
})();
