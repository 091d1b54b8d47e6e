/**
 * The live view's page (GET /): one panel per device with four small SVG time series over the last
 * minutes: mode, bytes per frame, estimated uplink rate, deadline misses. Plain DOM and SVG fed by
 * EventSource (/live/events); no framework, nothing loaded from elsewhere, so it works on a server
 * with no way out.
 *
 * Each panel is a <section data-device="..." data-mode="members,bits" data-modes="a;b;..."> so a
 * test (or a script) can read what the page shows without parsing the plots.
 */
export const LIVE_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>slimsplit serve: live</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1em;background:#fafafa;color:#222}
h1{font-size:18px;margin:0 0 .3em}
#status{color:#666;margin-bottom:1em}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em .8em;margin:0 0 1em}
section h2{font-size:15px;margin:0 0 .4em}
section h2 span{font-weight:normal;color:#555;margin-left:1em}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:.6em}
.plot .t{font-size:12px;color:#555}
svg{width:100%;height:90px;background:#fcfcfc;border:1px solid #eee}
svg text{font-size:10px;fill:#777}
</style></head><body>
<h1>slimsplit serve: live</h1>
<div id="status">connecting…</div>
<div id="devices"></div>
<script>
"use strict";
const W = 300, H = 90, PAD = 4;
const NS = "http://www.w3.org/2000/svg";
const state = { windowMs: 300000, skew: 0, devices: new Map() };
const root = document.getElementById("devices");
const status = document.getElementById("status");

function modeRank(m) { const [a, b] = m.split(",").map(Number); return (a || 0) * 100 + (b || 0); }

function panel(dev) {
  let d = state.devices.get(dev);
  if (d) return d;
  const sec = document.createElement("section");
  sec.dataset.device = dev;
  const h = document.createElement("h2");
  h.textContent = dev;
  const info = document.createElement("span");
  h.appendChild(info);
  sec.appendChild(h);
  const plots = document.createElement("div");
  plots.className = "plots";
  sec.appendChild(plots);
  const mk = (key, title) => {
    const p = document.createElement("div");
    p.className = "plot";
    const t = document.createElement("div");
    t.className = "t";
    t.textContent = title;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.dataset.plot = key;
    p.append(t, svg);
    plots.appendChild(p);
    return svg;
  };
  d = { pts: [], sec, info,
    mode: mk("mode", "mode (members,bits)"), bytes: mk("bytes", "bytes per frame"),
    uplink: mk("uplink", "estimated uplink, kbit/s (bits / capture→arrival)"), miss: mk("miss", "deadline misses per 5 s") };
  state.devices.set(dev, d);
  const names = [...state.devices.keys()].sort();
  root.insertBefore(sec, root.children[names.indexOf(dev)] || null);
  return d;
}

function el(svg, name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  svg.appendChild(e);
  return e;
}

function axes(svg, top, label, span) {
  svg.replaceChildren();
  if (label) el(svg, "text", { x: 2, y: 10 }, label);
  el(svg, "text", { x: 2, y: H - PAD - 2 }, "-" + Math.round(span / 1000) + " s");
  el(svg, "line", { x1: 0, x2: W, y1: H - PAD, y2: H - PAD, stroke: "#ddd" });
}

function draw(dev, now) {
  const d = state.devices.get(dev);
  // the x axis spans the window, or less while the device is new (at least 30 s)
  const SPAN = Math.min(state.windowMs, Math.max(30000, d.pts.length ? now - d.pts[0][0] : 0));
  const t0 = now - SPAN;
  const pts = d.pts.filter((p) => p[0] >= t0);
  const x = (t) => ((t - t0) / SPAN) * W;
  const last = d.pts[d.pts.length - 1];
  const modes = [...new Set(d.pts.map((p) => p[1]))].sort((a, b) => modeRank(a) - modeRank(b));
  const misses = d.pts.filter((p) => p[5]).length;
  d.sec.dataset.mode = last ? last[1] : "";
  d.sec.dataset.modes = modes.join(";");
  d.sec.dataset.frames = String(d.pts.length);
  d.sec.dataset.misses = String(misses);
  const up = last && last[4] !== null ? last[4] + " kbit/s" : "–";
  d.info.textContent = last ? "mode " + last[1] + " · " + last[2] + " B · uplink " + up + " · " + misses + " missed of " + d.pts.length + " in the last " + Math.round(state.windowMs / 60000) + " min" : "";

  // mode: a step line over the modes seen, lowest at the bottom
  axes(d.mode, 0, "", SPAN);
  const ym = (m) => { const i = modes.indexOf(m); return modes.length < 2 ? H / 2 : H - PAD - (i / (modes.length - 1)) * (H - 20); };
  let path = "";
  for (let i = 0; i < pts.length; i++) {
    const X = x(pts[i][0]).toFixed(1), Y = ym(pts[i][1]).toFixed(1);
    path += i === 0 ? "M" + X + " " + Y : "H" + X + "V" + Y;
  }
  if (pts.length) path += "H" + x(now).toFixed(1);
  el(d.mode, "path", { d: path, fill: "none", stroke: "#2a6", "stroke-width": 1.5 });
  modes.forEach((m) => el(d.mode, "text", { x: W - 28, y: Math.max(10, ym(m) - 2) }, m));

  series(d.bytes, pts, x, (p) => p[2], "B", "#36c", true, SPAN);
  series(d.uplink, pts.filter((p) => p[4] !== null), x, (p) => p[4], "kbit/s", "#c63", false, SPAN);

  // misses: bars per 5 s bucket
  const B = 5000, buckets = new Map();
  for (const p of pts) if (p[5]) { const k = Math.floor(p[0] / B); buckets.set(k, (buckets.get(k) || 0) + 1); }
  const mmax = Math.max(1, ...buckets.values());
  axes(d.miss, 0, "max " + mmax, SPAN);
  for (const [k, n] of buckets) {
    const h = (n / mmax) * (H - 20);
    el(d.miss, "rect", { x: x(k * B).toFixed(1), y: (H - PAD - h).toFixed(1), width: Math.max(1, (B / SPAN) * W - 1).toFixed(1), height: h.toFixed(1), fill: "#c33" });
  }
}

function series(svg, pts, x, get, unit, color, dots, span) {
  let max = 0;
  for (const p of pts) max = Math.max(max, get(p));
  max = max > 0 ? max * 1.1 : 1;
  axes(svg, max, "max " + Math.round(max) + " " + unit, span);
  const y = (v) => H - PAD - (v / max) * (H - 20);
  if (dots) {
    let path = "";
    for (const p of pts) path += "M" + x(p[0]).toFixed(1) + " " + y(get(p)).toFixed(1) + "h0.1";
    el(svg, "path", { d: path, stroke: color, "stroke-width": 2.5, "stroke-linecap": "round", fill: "none" });
  } else {
    const path = pts.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(get(p)).toFixed(1)).join("");
    el(svg, "path", { d: path, stroke: color, "stroke-width": 1.2, fill: "none" });
  }
}

function add(devices) {
  for (const dev in devices) {
    const d = panel(dev);
    for (const p of devices[dev]) d.pts.push(p);
  }
}

let dirty = true;
function frame() {
  if (dirty) {
    const now = Date.now() - state.skew;
    for (const [dev, d] of state.devices) {
      const cut = now - state.windowMs;
      while (d.pts.length && d.pts[0][0] < cut) d.pts.shift();
      draw(dev, now);
    }
    status.textContent = state.devices.size + " device" + (state.devices.size === 1 ? "" : "s") + " · updated " + new Date().toLocaleTimeString();
  }
  dirty = false;
}
setInterval(() => { dirty = true; frame(); }, 1000);

const es = new EventSource("live/events");
es.addEventListener("snapshot", (e) => {
  const m = JSON.parse(e.data);
  state.windowMs = m.windowMs;
  state.skew = Date.now() - m.now;
  for (const d of state.devices.values()) d.pts = [];
  add(m.devices);
  dirty = true; frame();
});
es.addEventListener("frames", (e) => {
  const m = JSON.parse(e.data);
  state.skew = Date.now() - m.now;
  add(m.devices);
  dirty = true; frame();
});
es.onerror = () => { status.textContent = "disconnected; retrying…"; };
</script></body></html>
`;
