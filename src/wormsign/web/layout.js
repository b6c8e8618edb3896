/* wormsign web: the graph's model, without the DOM: hosts, groups of attacked hosts, a layered
 * layout by generation and time, lineage (focus) and filters. Positions are computed here in
 * one pass (O(n log n)), never by a force layout, so 10,000 hosts lay out in milliseconds. */
// -- model ---------------------------------------------------------------------------
function isNum(v) { return typeof v === "number" && isFinite(v); }
function roleOf(host) {
  // "ws-0042" -> "ws", "SRV-DB01.corp.example" -> "srv-db": the name less its number and domain.
  var s = String(host).split(".")[0].toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/[-0-9]+$/, "");
  return s ? s.slice(0, 24) : "other";
}
function subnetOf(addr, prefix) {
  if (typeof addr !== "string") return null;
  var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (m) {
    var p = prefix === 16 ? 2 : (prefix === 8 ? 1 : 3), parts = m.slice(1, 5).slice(0, p);
    while (parts.length < 4) parts.push("0");
    return parts.join(".") + "/" + (p * 8);
  }
  if (addr.indexOf(":") > 0 && addr.length <= 45) return addr.toLowerCase().split(":").slice(0, 4).join(":") + "::/64";
  return null;
}
function graphModel(inc, view, opts) {
  var m = { hosts: new Map(), infected: [], attacked: [], others: [], groups: [], edges: [],
    out: new Map(), inn: new Map(), grouped: false, expanded: [], bottom: 0, opts: opts };
  var addrs = (view && view.addresses) || {};
  function rec(name, h) {
    var r = m.hosts.get(name);
    if (r) return r;
    h = h || { host: name, state: "source" };
    var t = h.state === "infected" ? ms(h.infected_at) : null;
    r = { host: name, h: h, state: h.state === "infected" || h.state === "attacked" ? h.state : "source",
      gen: isNum(h.generation) ? h.generation : null, t: t, group: null, addr: own(addrs, name) };
    m.hosts.set(name, r);
    return r;
  }
  (inc.hosts || []).forEach(function (h) { if (h && typeof h.host === "string") rec(h.host, h); });
  (inc.edges || []).forEach(function (e, i) {
    if (!e || typeof e.source !== "string" || typeof e.target !== "string") return;
    var x = { i: i, e: e, s: rec(e.source), t: rec(e.target), time: ms(e.ts) };
    m.edges.push(x);
    if (!m.out.has(e.source)) m.out.set(e.source, []);
    if (!m.inn.has(e.target)) m.inn.set(e.target, []);
    m.out.get(e.source).push(x); m.inn.get(e.target).push(x);
  });
  m.hosts.forEach(function (r) { (r.state === "infected" ? m.infected : r.state === "attacked" ? m.attacked : m.others).push(r); });
  // Generations the hunt did not give: one more than the infector's, in infection order.
  m.infected.sort(function (a, b) { return (a.t === null ? -Infinity : a.t) - (b.t === null ? -Infinity : b.t) || cmp(a.host, b.host); });
  m.infected.forEach(function (r) {
    if (r.gen !== null) return;
    var src = (m.inn.get(r.host) || [])[0];
    r.gen = src && src.s.gen !== null ? src.s.gen + 1 : 0;
  });
  if (m.attacked.length >= (opts.group_min || 30)) groupAttacked(m, opts);
  return m;
}
function cmp(a, b) { return a < b ? -1 : (a > b ? 1 : 0); }
function groupAttacked(m, opts) {
  var byKey = new Map(), prefix = Number(opts.ipv4_prefix) || 24, max = Math.max(10, Number(opts.group_max) || 250);
  m.attacked.slice().sort(function (a, b) { return cmp(a.host, b.host); }).forEach(function (r) {
    var net = subnetOf(r.addr, prefix), key = net ? "subnet " + net : "role " + roleOf(r.host);
    if (!byKey.has(key)) byKey.set(key, []);
    byKey.get(key).push(r);
  });
  Array.from(byKey.keys()).sort(function (a, b) { return a.localeCompare(b, "en", { numeric: true }); }).forEach(function (key) {
    var all = byKey.get(key), parts = Math.ceil(all.length / max);
    for (var p = 0; p < parts; p++) {
      var members = all.slice(p * max, (p + 1) * max);
      var g = { id: "g" + m.groups.length, key: key, members: members, expanded: false,
        label: key + (parts > 1 ? " (" + (p + 1) + "/" + parts + ")" : "") + " · " + members.length + " attacked" };
      members.forEach(function (r) { r.group = g; });
      m.groups.push(g);
    }
  });
  m.grouped = true;
}
// -- layered layout: a row (or a band of rows) per generation, ordered by infector and time --
function rowMax(m) {
  // As many columns as make the drawing about as wide as the panel (aspect = width / height).
  var n = m.infected.length + m.others.length + (m.grouped ? 0 : m.attacked.length), aspect = m.aspect || 1.5;
  return Number(m.opts.row_max) > 0 ? Number(m.opts.row_max) : Math.max(12, Math.ceil(1.4 * Math.sqrt(n * aspect * 45 / 60)));
}
function layout(m, aspect) {
  m.aspect = aspect > 0 ? aspect : 1.5;
  var dx = 60, dy = 70, sub = 45, y = 0, per = rowMax(m), pos = new Map(), rows = [], order = new Map();
  function band(label, items, key, step) {
    if (!items.length) return;
    var d = step || dx, cols = Math.max(1, Math.floor(per * dx / d)), lines = Math.ceil(items.length / cols);
    y += Math.max(0, d - dy) / 2;  // room above nodes larger than a host
    rows.push({ label: label, y: y, n: items.length });
    items.forEach(function (it, i) {
      var line = Math.floor(i / cols), inLine = line < lines - 1 ? cols : items.length - line * cols;
      pos.set(key(it), { x: (i % cols - (inLine - 1) / 2) * d, y: y + line * Math.max(sub, d) });
    });
    y += (lines - 1) * Math.max(sub, d) + Math.max(dy, d);
  }
  band("attack sources", m.others.slice().sort(function (a, b) { return cmp(a.host, b.host); }), hostKey);
  var gens = new Map();
  m.infected.forEach(function (r) { if (!gens.has(r.gen)) gens.set(r.gen, []); gens.get(r.gen).push(r); });
  Array.from(gens.keys()).sort(function (a, b) { return a - b; }).forEach(function (g) {
    var items = gens.get(g);
    items.forEach(function (r) {  // the infector's place in the row above keeps siblings together
      var src = (m.inn.get(r.host) || [])[0];
      r.k = src && order.has(src.s.host) ? order.get(src.s.host) : -1;
    });
    items.sort(function (a, b) { return a.k - b.k || (a.t === null ? -Infinity : a.t) - (b.t === null ? -Infinity : b.t) || cmp(a.host, b.host); });
    items.forEach(function (r, i) { order.set(r.host, i); });
    band("generation " + g + " · " + items.length + " infected", items, hostKey);
  });
  var width = Math.min(per, Math.max.apply(null, rows.map(function (r) { return r.n; }).concat([1]))) * dx;
  // Groups share the tree's width, each as large as its share allows (a small tree: 100 px each).
  m.groupStep = Math.max(100, Math.min(400, width / Math.max(1, m.groups.length)));
  if (m.grouped) band("attacked, not infected · " + m.attacked.length + " hosts in " + m.groups.length + " groups", m.groups, function (g) { return g.id; }, m.groupStep);
  else band("attacked, not infected", m.attacked.slice().sort(function (a, b) { return cmp(a.host, b.host); }), hostKey);
  m.bottom = y;
  m.rows = rows;
  m.pos = pos;
  m.width = Math.max(width, Math.min(per * dx, m.groups.length * m.groupStep));
  return pos;
}
function hostKey(r) { return "h:" + r.host; }
/** Positions for a group's members, in a band of their own under everything drawn so far. */
function expandLayout(m, g) {
  var per = Math.min(rowMax(m), Math.max(8, Math.ceil(Math.sqrt(g.members.length) * 2))), dx = 60, sub = 45, out = new Map();
  var top = m.bottom;
  g.members.forEach(function (r, i) { out.set(r.host, { x: (i % per - (Math.min(per, g.members.length) - 1) / 2) * dx, y: top + Math.floor(i / per) * sub }); });
  m.bottom = top + Math.ceil(g.members.length / per) * sub + 40;
  return out;
}
// -- focus and context ----------------------------------------------------------------
/** The host's ancestors and descendants along the infection edges: {hosts: Set, edges: Set of edge index}. */
function lineage(m, host) {
  var hosts = new Set([host]), edges = new Set();
  function walk(start, next, far) {
    var stack = [start], seen = new Set([start]);
    while (stack.length) {
      (next.get(stack.pop()) || []).forEach(function (x) {
        edges.add(x.i);
        var h = x[far].host;
        if (!seen.has(h)) { seen.add(h); hosts.add(h); stack.push(h); }
      });
    }
  }
  walk(host, m.inn, "s");
  walk(host, m.out, "t");
  return { hosts: hosts, edges: edges };
}
// -- search and filters ---------------------------------------------------------------
/** An address is found by itself, or by a prefix that ends in a dot or colon (``10.20.4.``). */
function addrMatches(addr, term) {
  if (typeof addr !== "string") return false;
  return addr === term || (/[.:]$/.test(term) && addr.indexOf(term) === 0);
}
/** Hosts whose name contains the term, or whose address matches it (at most ``max``). */
function findHosts(m, term, max) {
  term = String(term || "").trim().toLowerCase();
  var out = [];
  if (!term) return out;
  m.hosts.forEach(function (r) {
    if (out.length < (max || 20) && (r.host.toLowerCase().indexOf(term) >= 0 || addrMatches(r.addr, term))) out.push(r);
  });
  return out;
}
function filterActive(f) { return !!(f && (f.family || f.hash || f.technique || f.from !== null || f.to !== null)); }
function edgeMatches(x, f) {
  var e = x.e, file = e.file && typeof e.file === "object" ? e.file : {};
  if (f.hash && !(typeof file.sha256 === "string" && file.sha256.toLowerCase().indexOf(f.hash) === 0)) return false;
  if (f.technique && !((Array.isArray(e.techniques) && e.techniques.indexOf(f.technique) >= 0) || e.method === f.technique)) return false;
  if (f.family && !hasFamily(x.t, f.family) && !hasFamily(x.s, f.family)) return false;
  if (f.from !== null && !(x.time !== null && x.time >= f.from)) return false;
  if (f.to !== null && !(x.time !== null && x.time <= f.to)) return false;
  return true;
}
function hasFamily(r, fam) {
  var fs = r.h.families;
  return Array.isArray(fs) && fs.some(function (v) { return (v && typeof v === "object" ? v.family : v) === fam; });
}
function hostMatches(m, r, f) {
  if (f.family && !hasFamily(r, f.family)) return false;
  if (f.hash) {
    var has = Array.isArray(r.h.hashes) && r.h.hashes.some(function (v) { return typeof v === "string" && v.toLowerCase().indexOf(f.hash) === 0; });
    var moved = (m.inn.get(r.host) || []).concat(m.out.get(r.host) || []).some(function (x) { return edgeMatches(x, { hash: f.hash, from: null, to: null }); });
    if (!has && !moved) return false;
  }
  if (f.technique && !(m.inn.get(r.host) || []).concat(m.out.get(r.host) || []).some(function (x) { return edgeMatches(x, { technique: f.technique, from: null, to: null }); })) return false;
  if (f.from !== null && !(r.t !== null && r.t >= f.from)) return false;
  if (f.to !== null && !(r.t !== null && r.t <= f.to)) return false;
  return true;
}
/** Hosts and edges that pass every active filter: {hosts: Set of host, edges: Set of edge index}. */
function applyFilters(m, f) {
  var hosts = new Set(), edges = new Set();
  m.hosts.forEach(function (r) { if (hostMatches(m, r, f)) hosts.add(r.host); });
  m.edges.forEach(function (x) { if (edgeMatches(x, f)) edges.add(x.i); });
  return { hosts: hosts, edges: edges };
}
