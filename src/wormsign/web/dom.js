/* wormsign web: DOM helpers. Every value is attacker-written: it goes in as text, never as markup. */
var MAX_CELL = 300, MAX_FIELD = 4000;

// -- DOM helpers: text only ----------------------------------------------------------
function text(v, max) {
  if (v === null || v === undefined) return "";
  max = max || MAX_CELL;
  var s = typeof v === "string" ? v : (Array.isArray(v) ? v.map(function (v) { return text(v); }).join(", ") : (typeof v === "object" ? JSON.stringify(v) : String(v)));
  return s.length > max ? s.slice(0, max) + "… (" + s.length + " chars)" : s;
}
function el(tag, cls, content) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (content !== undefined && content !== null) {
    if (typeof content === "object" && content.nodeType) e.appendChild(content);
    else e.textContent = text(content);
  }
  return e;
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
function section(id, title) {
  var s = clear(document.getElementById(id));
  s.appendChild(el("h2", null, title));
  return s;
}
var TABLE_PAGE = 500;  // rows drawn at once; "show more" draws the next page (10,000-host tables stay quick)
function table(parent, headers, rows, onClick) {
  if (!rows.length) { parent.appendChild(el("p", "empty", "none")); return null; }
  var t = el("table"), thead = el("thead"), tr = el("tr");
  headers.forEach(function (h) { tr.appendChild(el("th", null, h)); });
  thead.appendChild(tr); t.appendChild(thead);
  var tb = el("tbody"), shown = 0, wrap = el("div", "scroll"), more = null;
  function page() {
    var frag = document.createDocumentFragment();
    rows.slice(shown, shown + TABLE_PAGE).forEach(function (r) {
      var row = el("tr", onClick && r.item !== undefined ? "clickable" : null);
      r.cells.forEach(function (c) { row.appendChild(el("td", r.cls || null, c)); });
      if (onClick && r.item !== undefined) {
        row.tabIndex = 0;
        row.addEventListener("click", function () { onClick(r.item); });
        row.addEventListener("keydown", function (e) { if (e.key === "Enter") onClick(r.item); });
      }
      frag.appendChild(row);
    });
    tb.appendChild(frag);
    shown = Math.min(rows.length, shown + TABLE_PAGE);
    if (shown < rows.length && !more) {
      more = el("button", "more"); more.type = "button";
      more.addEventListener("click", page);
      wrap.appendChild(more);
    }
    if (more) {
      if (shown < rows.length) more.textContent = "show " + Math.min(TABLE_PAGE, rows.length - shown) + " more of " + (rows.length - shown);
      else more.remove();
    }
  }
  t.appendChild(tb);
  wrap.appendChild(t); parent.appendChild(wrap);
  page();
  return t;
}
function card(parent, key, value, id) {
  var c = el("div", "card"); if (id) c.id = id;
  c.appendChild(el("div", "k", key)); c.appendChild(el("div", "v", value));
  parent.appendChild(c);
}
function own(obj, key) { return obj && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined; }
function ms(t) { var v = Date.parse(t); return isNaN(v) ? null : v; }
function short(t) { return t ? text(t).replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }
function hours(a, b) { var x = ms(a), y = ms(b); return x === null || y === null ? "" : ((y - x) / 3600000).toFixed(1) + " h"; }
function status(msg) { document.getElementById("status").textContent = msg || ""; }
