/* wormsign web: where data comes from (the page or the API) and the evidence panel. */
// -- data source: the page or the API ------------------------------------------------
function api(path) {
  return fetch(path, { headers: { Authorization: "Bearer " + state.token } }).then(function (r) {
    if (r.status === 401) throw new Error("the token was refused: open the URL that `wormsign serve` printed");
    if (!r.ok) {
      return r.json().catch(function () { return {}; }).then(function (d) {
        throw new Error("HTTP " + r.status + ": " + text(typeof d.detail === "string" ? d.detail : path));
      });
    }
    return r.json();
  });
}
function evidence(refs) {
  refs = refs.filter(function (r) { return typeof r === "string"; }).slice(0, 50);
  if (config.mode !== "api") {
    var ev = (state.view && state.view.evidence) || {};
    return Promise.resolve(refs.map(function (r) { return own(ev, r) || { ref: r, missing: true }; }));
  }
  if (!refs.length) return Promise.resolve([]);
  var q = refs.map(function (r) { return "ref=" + encodeURIComponent(r); }).join("&");
  return api("/api/evidence?" + q).then(function (d) {
    return refs.map(function (r) { return own(d.events, r) || { ref: r, missing: true }; });
  });
}// -- evidence panel ------------------------------------------------------------------
function showEvidence(title, facts, refs) {
  var panel = clear(document.getElementById("details")), r = panel.getBoundingClientRect();
  if (r.top < 0 || r.top > window.innerHeight) panel.scrollIntoView({ block: "start" });
  panel.appendChild(el("h2", null, title));
  var dl = el("table", "facts");
  facts.forEach(function (f) {
    var tr = el("tr"); tr.appendChild(el("th", null, f[0])); tr.appendChild(el("td", null, f[1])); dl.appendChild(tr);
  });
  panel.appendChild(dl);
  var list = el("div"); list.id = "evidence-list"; panel.appendChild(list);
  if (!refs.length) { list.appendChild(el("p", "empty", "no evidence events cited")); return Promise.resolve(); }
  list.appendChild(el("p", "hint", "loading " + refs.length + " evidence events…"));
  return evidence(refs).then(function (events) {
    clear(list);
    list.appendChild(el("p", "hint", events.length + " evidence events"));
    events.forEach(function (ev) { list.appendChild(eventBox(ev)); });
  }).catch(function (e) { clear(list).appendChild(el("p", "empty", e.message)); });
}
function eventBox(ev) {
  var box = el("div", "event");
  if (ev.missing) { box.appendChild(el("div", "head", "not in the case: " + text(ev.ref))); return box; }
  box.appendChild(el("div", "head", [short(ev.ts), ev.host, ev.kind, ev["event.code"]].map(function (v) { return text(v); }).join("  ")));
  var t = el("table");
  Object.keys(ev).forEach(function (k) {
    if (k === "raw") return;
    var tr = el("tr"); tr.appendChild(el("th", null, k)); tr.appendChild(el("td", "field", text(ev[k], MAX_FIELD))); t.appendChild(tr);
  });
  box.appendChild(t);
  if (ev.raw) {
    var d = el("details"), pretty = ev.raw;
    d.appendChild(el("summary", null, "original record" + (ev.raw_truncated ? " (cut)" : "")));
    try { pretty = JSON.stringify(JSON.parse(ev.raw), null, 1); } catch (e) { /* shown as is */ }
    var pre = el("pre", "raw"); pre.textContent = pretty; d.appendChild(pre);
    d.open = true; box.appendChild(d);
  }
  return box;
}
function hostRefs(inc, host) {
  var refs = [];
  (inc.edges || []).forEach(function (e) { if (e.target === host) refs = refs.concat(e.evidence || []); });
  if (host === inc.patient_zero) (inc.initial_access || []).forEach(function (s) { if (s.ref) refs.push(s.ref); });
  (inc.edges || []).forEach(function (e) { if (e.source === host) refs = refs.concat(e.evidence || []); });
  ((inc.accounts || {}).locked || []).forEach(function (l) { if (l.source_host === host && l.ref) refs.push(l.ref); });
  return refs.filter(function (r, i) { return refs.indexOf(r) === i; });
}
function selectHost(host) {
  var inc = state.incident, h = (inc.hosts || []).filter(function (x) { return x.host === host; })[0] || { host: host };
  return showEvidence("Host " + text(host), [["state", h.state], ["generation", h.generation], ["infected at", h.infected_at],
    ["infector", h.infector], ["technique", h.technique], ["families", h.families], ["hashes", h.hashes]], hostRefs(inc, host));
}
function selectEdge(edge) {
  return showEvidence("Edge " + text(edge.source) + " → " + text(edge.target), [["time", edge.ts], ["techniques", edge.techniques],
    ["method", edge.method], ["account", edge.account], ["file", edge.file], ["alerts", edge.alerts]], edge.evidence || []);
}
