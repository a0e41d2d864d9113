/** A line chart as inline SVG, drawn on the server: the page shows it with no script. */
export interface ChartSeries {
  name: string;
  colour: string;
  /** One value per sample (NaN: no value, a gap in the line). */
  values: readonly number[];
  dashed?: boolean;
}

export interface ChartOptions {
  /** Epoch ms of each sample, oldest first. */
  times: readonly number[];
  series: readonly ChartSeries[];
  /** The y axis's unit, shown in its title and tick labels (e.g. 'mutations/s', 'ms'). */
  unit: string;
  title: string;
  width?: number;
  height?: number;
  /** Formats a tick value (default: 1.2k style). */
  format?: (v: number) => string;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 1.2k, 35, 0.25: short numbers for ticks and cards. */
export function shortNumber(v: number): string {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(0)}k`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 10 || a === 0) return String(Math.round(v));
  return String(+v.toPrecision(2));
}

/** The smallest of 1, 2, 2.5, 5 × 10^k at or above `v` (the y axis's top). */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 460;
  const H = o.height ?? 190;
  const L = 56;
  const R = 10;
  const T = 40;
  const B = 24;
  const fmt = o.format ?? shortNumber;
  const n = o.times.length;
  let max = 0;
  for (const s of o.series) for (const v of s.values) if (Number.isFinite(v) && v > max) max = v;
  // four equal steps of a round size (0, 500, 1000 …), not a round top cut in odd quarters
  const top = 4 * niceCeil(max / 4);
  const now = n ? o.times[n - 1]! : 0;
  const span = n > 1 ? Math.max(1000, now - o.times[0]!) : 60_000;
  const x = (t: number) => L + (W - L - R) * (1 - (now - t) / span);
  const y = (v: number) => T + (H - T - B) * (1 - v / top);
  const parts: string[] = [];
  parts.push(
    `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(o.title)}">`,
    `<text x="${L}" y="14" class="ct">${escapeHtml(o.title)} <tspan class="cu">(${escapeHtml(o.unit)})</tspan></text>`,
  );
  // y axis: 5 ticks from 0 to the nice top
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    const yy = y(v).toFixed(1);
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}" class="grid"/>`,
      `<text x="${L - 6}" y="${(+yy + 4).toFixed(1)}" class="tick" text-anchor="end">${escapeHtml(fmt(v))}</text>`,
    );
  }
  // x axis: seconds ago, at round steps
  const spanS = span / 1000;
  const step = [10, 15, 30, 60, 120, 300].find((s) => spanS / s <= 5) ?? 600;
  for (let ago = 0; ago <= spanS + 0.001; ago += step) {
    const xx = x(now - ago * 1000).toFixed(1);
    const label = ago === 0 ? 'now' : ago % 60 === 0 ? `−${ago / 60} min` : `−${ago} s`;
    parts.push(
      `<line x1="${xx}" x2="${xx}" y1="${T}" y2="${H - B}" class="grid"/>`,
      `<text x="${xx}" y="${H - 8}" class="tick" text-anchor="middle">${label}</text>`,
    );
  }
  parts.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" class="axis"/>`);
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" class="axis"/>`);
  // the legend on its own line under the title, left to right
  let lx = L;
  const legend: string[] = [];
  for (const s of o.series) {
    legend.push(
      `<line x1="${lx.toFixed(1)}" x2="${(lx + 12).toFixed(1)}" y1="25" y2="25" stroke="${s.colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="3 2"' : ''}/>`,
      `<text x="${(lx + 16).toFixed(1)}" y="29" class="lg">${escapeHtml(s.name)}</text>`,
    );
    lx += 26 + s.name.length * 6.2;
  }
  parts.push(...legend);
  for (const s of o.series) {
    // one polyline per run of finite values
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1)
        parts.push(
          `<polyline class="line" data-series="${escapeHtml(s.name)}" fill="none" stroke="${s.colour}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="3 2"' : ''} points="${run.join(' ')}"/>`,
        );
      run = [];
    };
    for (let i = 0; i < n; i++) {
      const v = s.values[i];
      if (v === undefined || !Number.isFinite(v)) flush();
      else run.push(`${x(o.times[i]!).toFixed(1)},${y(Math.min(v, top)).toFixed(1)}`);
    }
    flush();
  }
  if (n < 2)
    parts.push(
      `<text x="${(L + W) / 2}" y="${(T + H) / 2}" class="tick" text-anchor="middle">collecting…</text>`,
    );
  parts.push('</svg>');
  return parts.join('');
}
