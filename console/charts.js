// Line charts as SVG, with no library: one or more series over dates, with
// labelled axes, a point title per value, and a text summary for screen
// readers.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 240;
const PAD = { top: 16, right: 16, bottom: 32, left: 56 };

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

const format = new Intl.NumberFormat(undefined, { notation: "compact" });

/**
 * series: [{name, points: [{date: "YYYY-MM-DD", value: number}]}]
 * Returns a <figure> holding the chart and its caption.
 */
export function lineChart(title, series) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  const dates = [...new Set(series.flatMap((s) => s.points.map((p) => p.date)))].sort();
  if (dates.length === 0) {
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = "No snapshot in this range yet.";
    figure.append(caption, empty);
    return figure;
  }
  const values = series.flatMap((s) => s.points.map((p) => p.value));
  const min = Math.min(0, ...values);
  const max = niceMax(Math.max(...values));
  const x = (date) => {
    const i = dates.indexOf(date);
    const span = WIDTH - PAD.left - PAD.right;
    return PAD.left + (dates.length === 1 ? span / 2 : (i * span) / (dates.length - 1));
  };
  const y = (v) => HEIGHT - PAD.bottom - ((v - min) / (max - min)) * (HEIGHT - PAD.top - PAD.bottom);
  const summary = series
    .map((s) => {
      const first = s.points[0];
      const last = s.points[s.points.length - 1];
      return `${s.name}: ${first.value} on ${first.date} to ${last.value} on ${last.date}`;
    })
    .join("; ");
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": `${title}. ${summary}` });
  for (let i = 0; i <= 4; i++) {
    const v = min + ((max - min) * i) / 4;
    svg.append(
      el("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), class: "grid" }),
      el("text", { x: PAD.left - 8, y: y(v) + 4, "text-anchor": "end", class: "tick" }, format.format(v)),
    );
  }
  const labelEvery = Math.max(1, Math.ceil(dates.length / 6));
  dates.forEach((d, i) => {
    if (i % labelEvery === 0 || i === dates.length - 1) {
      svg.append(el("text", { x: x(d), y: HEIGHT - 10, "text-anchor": "middle", class: "tick" }, d.slice(5)));
    }
  });
  series.forEach((s, n) => {
    const points = s.points.map((p) => `${x(p.date)},${y(p.value)}`).join(" ");
    svg.append(el("polyline", { points, class: `line series-${n}` }));
    for (const p of s.points) {
      const dot = el("circle", { cx: x(p.date), cy: y(p.value), r: 3, class: `dot series-${n}` });
      dot.append(el("title", {}, `${s.name} on ${p.date}: ${p.value}`));
      svg.append(dot);
    }
  });
  const legend = document.createElement("ul");
  legend.className = "legend";
  series.forEach((s, n) => {
    const item = document.createElement("li");
    item.className = `series-${n}`;
    item.textContent = s.name;
    legend.append(item);
  });
  figure.append(caption, svg, legend);
  return figure;
}
