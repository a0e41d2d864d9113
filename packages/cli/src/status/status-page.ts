import type { StatusSnapshot, VBucketStatus } from './status-model.js';
import { escapeHtml, lineChart, shortNumber } from './svg-chart.js';

/**
 * The status page, rendered on the server: the HTML itself holds the first snapshot (numbers,
 * verdict, charts as inline SVG), so it is useful with scripts off or in a `--screenshot`. A small
 * script then swaps in the same rendering of each newer snapshot from `/status/events`.
 *
 * Numbers that are in /metrics carry `data-metric` (the family), `data-labels` (JSON, when a
 * series is meant), `data-agg="sum"` (summed over the matching series) or `data-quantile`
 * (histogram_quantile over the family's buckets), and `data-value` (the raw number): the
 * browser test checks each against a scrape.
 */

const STYLE = `
body{font:14px system-ui,sans-serif;margin:0;background:#0f1419;color:#d8dee4}
main{padding:16px 20px}
h1{font-size:20px;margin:0}h2{font-size:15px;margin:20px 0 8px;color:#9fb3c8}
.sub{color:#8b98a5;margin:2px 0 10px}
.verdict{border-radius:8px;padding:10px 14px;margin:8px 0 14px;border-left:6px solid}
.verdict b{font-size:18px;text-transform:uppercase;letter-spacing:.04em}
.verdict ul{margin:4px 0 0 18px;padding:0}
.v-healthy{background:#12261a;border-color:#2ea043}.v-healthy b{color:#5fd38d}
.v-catching-up{background:#2a2310;border-color:#d29922}.v-catching-up b{color:#e3b341}
.v-degraded{background:#2d1f0f;border-color:#db6d28}.v-degraded b{color:#f0883e}
.v-down{background:#2d1215;border-color:#f85149}.v-down b{color:#ff7b72}
.cards{display:flex;gap:10px;flex-wrap:wrap}
.card{background:#1a2129;border-radius:6px;padding:8px 12px;min-width:112px}
.card b{display:block;font-size:21px;color:#fff;font-variant-numeric:tabular-nums}
.card span{color:#8b98a5;font-size:12px}
.charts{display:flex;gap:12px;flex-wrap:wrap}
.chart{background:#1a2129;border-radius:6px}
.chart .grid{stroke:#2a333d;stroke-width:1}.chart .axis{stroke:#52606d;stroke-width:1}
.chart .tick{fill:#8b98a5;font-size:10px}.chart .ct{fill:#d8dee4;font-size:12px}
.chart .cu{fill:#8b98a5}.chart .lg{fill:#b1bac4;font-size:11px}
table{border-collapse:collapse}td,th{padding:4px 10px;text-align:left;border-bottom:1px solid #2a333d}
th{color:#9fb3c8;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#5fd38d}.bad{color:#ff7b72}.err td{font-family:ui-monospace,monospace;font-size:12px}
#heat{display:grid;grid-template-columns:repeat(64,10px);gap:1px}
#heat div{width:10px;height:10px;border-radius:1px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
footer{color:#8b98a5;margin-top:18px}footer a{color:#58a6ff}
`;

const COLOURS = ['#58a6ff', '#f0883e', '#a371f7', '#3fb950', '#db61a2', '#e3b341', '#79c0ff', '#ffa198'];

function time(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

function ms(seconds: number): string {
  if (!Number.isFinite(seconds)) return '–';
  const v = seconds * 1000;
  return v >= 100 ? String(Math.round(v)) : String(+v.toPrecision(2));
}

interface MetricRef {
  metric: string;
  labels?: Record<string, string>;
  agg?: 'sum';
  quantile?: number;
}

function attrs(m: MetricRef | undefined, value: number): string {
  if (!m) return '';
  let a = ` data-metric="${m.metric}" data-value="${Number.isFinite(value) ? value : 'NaN'}"`;
  if (m.labels) a += ` data-labels="${escapeHtml(JSON.stringify(m.labels))}"`;
  if (m.agg) a += ` data-agg="${m.agg}"`;
  if (m.quantile !== undefined) a += ` data-quantile="${m.quantile}"`;
  return a;
}

function card(id: string, value: number, shown: string, label: string, m?: MetricRef): string {
  const a = m ? attrs(m, value) : ` data-value="${Number.isFinite(value) ? value : 'NaN'}"`;
  return `<div class="card"><b id="${id}"${a}>${escapeHtml(shown)}</b><span>${escapeHtml(label)}</span></div>`;
}

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

function heatColour(v: VBucketStatus, maxLag: number): string {
  if (v.state !== 'running') return v.lag > 0 ? '#f85149' : '#3b4450';
  if (v.lag === 0) return '#2ea043';
  return v.lagSeconds < Math.max(1, maxLag / 4) ? '#7ee787' : v.lagSeconds < maxLag ? '#d29922' : '#f85149';
}

/** The live part of the page (everything under `<main id="live">`): rendered again for each event. */
export function renderStatusBody(s: StatusSnapshot, readyMaxLagSeconds = 10): string {
  const b = { bucket: s.bucket };
  const vclass = `v-${s.verdict.state.replace(' ', '-')}`;
  const out: string[] = [];
  out.push(
    `<h1>Tributary</h1><div class="sub" id="sub">${escapeHtml(s.title)} · updated <time datetime="${new Date(s.at).toISOString()}">${time(s.at)}</time></div>`,
    `<section class="verdict ${vclass}" id="verdict" data-state="${s.verdict.state}"><b>${s.verdict.state}</b><ul>${s.verdict.reasons
      .map((r) => `<li>${escapeHtml(r)}</li>`)
      .join('')}</ul></section>`,
    '<div class="cards">',
    card('written', s.written, fmt(s.written), 'changes written (Σ high seqnos)', {
      metric: 'tributary_pipeline_high_seqnos',
      labels: b,
    }),
    card('indexed', s.indexed, fmt(s.indexed), 'changes visible in the index', {
      metric: 'tributary_pipeline_indexed_seqnos',
      labels: b,
    }),
    card('lag', s.lag, fmt(s.lag), 'lag: written, not yet visible', {
      metric: 'tributary_pipeline_lag_seqnos',
      labels: b,
    }),
    card('lagSeconds', s.lagSeconds, `${s.lagSeconds.toFixed(1)} s`, 'oldest change waiting', {
      metric: 'tributary_pipeline_lag_seconds',
      labels: b,
    }),
    card('rateIn', s.rates.in, shortNumber(s.rates.in), 'mutations/s in'),
    card('rateIndexed', s.rates.indexed, shortNumber(s.rates.indexed), 'indexed/s'),
    card('p50', s.latency.p50, `${ms(s.latency.p50)} ms`, 'e2e latency p50 (since start)', {
      metric: 'tributary_channel_index_e2e_latency_seconds',
      quantile: 0.5,
    }),
    card('p99', s.latency.p99, `${ms(s.latency.p99)} ms`, 'e2e latency p99 (since start)', {
      metric: 'tributary_channel_index_e2e_latency_seconds',
      quantile: 0.99,
    }),
    card('received', s.received, fmt(s.received), 'DCP changes received', {
      metric: 'tributary_datasource_changes_total',
      labels: b,
      agg: 'sum',
    }),
    card('mutations', s.counters.mutations, fmt(s.counters.mutations), 'mutations indexed', {
      metric: 'tributary_channel_index_mutations_total',
    }),
    card('deletions', s.counters.deletions, fmt(s.counters.deletions), 'deletions indexed', {
      metric: 'tributary_channel_index_deletions_total',
    }),
    card('entries', s.counters.entries, fmt(s.counters.entries), 'channel entries', {
      metric: 'tributary_channel_index_entries_total',
    }),
    card('rollbacks', s.counters.rollbacks, fmt(s.counters.rollbacks), 'rollbacks', {
      metric: 'tributary_channel_index_rollbacks_total',
    }),
    card('errorCount', s.errorCount, fmt(s.errorCount), 'errors', {
      metric: 'tributary_pipeline_errors_total',
      labels: b,
    }),
    '</div>',
  );
  const t = s.history.times;
  const nodeNames = Object.keys(s.history.nodeLag).sort();
  out.push(
    '<h2>Throughput, lag and latency (last 5 minutes, one point a second)</h2><div class="charts">',
    lineChart({
      title: 'Mutations in and indexed',
      unit: 'mutations/s',
      times: t,
      series: [
        { name: 'in (DCP)', colour: '#58a6ff', values: s.history.in },
        { name: 'indexed', colour: '#3fb950', values: s.history.indexed, dashed: true },
      ],
    }),
    lineChart({
      title: 'Lag: written, not yet visible',
      unit: 'changes',
      times: t,
      series: [
        { name: 'total', colour: '#e3b341', values: s.history.lag },
        ...nodeNames.map((n, i) => ({
          name: n,
          colour: COLOURS[i % COLOURS.length]!,
          values: s.history.nodeLag[n]!,
          dashed: true,
        })),
      ],
    }),
    lineChart({
      title: 'End-to-end latency, arrival → visible',
      unit: 'ms',
      times: t,
      series: [
        { name: 'p50', colour: '#79c0ff', values: s.history.p50 },
        { name: 'p99', colour: '#db61a2', values: s.history.p99 },
      ],
    }),
    lineChart({
      title: 'Process stalls: what a dip then a spike in the rates was',
      unit: 'ms',
      times: t,
      series: [
        { name: 'longest event-loop delay', colour: '#ffa198', values: s.history.loopMax },
        { name: 'GC pauses', colour: '#a371f7', values: s.history.gc, dashed: true },
      ],
    }),
    '</div>',
  );
  out.push(
    '<h2>Data nodes</h2><table id="nodes"><thead><tr><th>node</th><th>connection</th><th>vbuckets</th><th>streaming</th><th>in/s</th><th>indexed/s</th><th>lag (changes)</th><th>oldest waiting</th></tr></thead><tbody>',
  );
  for (const n of s.nodes) {
    const nl = { bucket: s.bucket, node: n.node };
    out.push(
      `<tr data-node="${escapeHtml(n.node)}"><td>${escapeHtml(n.node)}</td>`,
      `<td class="${n.connected ? 'ok' : 'bad'}"${attrs({ metric: 'tributary_datasource_node_connected', labels: nl }, n.connected ? 1 : 0)}>${n.connected ? 'connected' : 'disconnected'}</td>`,
      `<td class="n">${n.vbuckets}</td><td class="n">${n.streaming}</td>`,
      `<td class="n">${shortNumber(n.inRate)}</td><td class="n">${shortNumber(n.indexedRate)}</td>`,
      `<td class="n"${attrs({ metric: 'tributary_pipeline_node_lag_seqnos', labels: nl }, n.lag)}>${fmt(n.lag)}</td>`,
      `<td class="n"${attrs({ metric: 'tributary_pipeline_node_lag_seconds', labels: nl }, n.lagSeconds)}>${n.lagSeconds.toFixed(1)} s</td></tr>`,
    );
  }
  if (s.nodes.length === 0) out.push('<tr><td colspan="8" class="bad">no cluster map yet</td></tr>');
  out.push('</tbody></table>');
  out.push(
    `<h2>vbuckets (${s.vbuckets.length}): ${Object.entries(s.streams)
      .map(([k, n]) => `${escapeHtml(k)} ${n}`)
      .join(', ')}</h2>`,
    `<div class="legend">colour: <span style="background:#2ea043"></span>caught up<span style="background:#7ee787"></span>behind &lt; ${Math.max(1, readyMaxLagSeconds / 4)} s<span style="background:#d29922"></span>behind &lt; ${readyMaxLagSeconds} s<span style="background:#f85149"></span>further behind or stalled<span style="background:#3b4450"></span>not streaming, nothing waiting</div>`,
    '<div id="heat">',
    ...s.vbuckets.map(
      (v) =>
        `<div style="background:${heatColour(v, readyMaxLagSeconds)}" title="vb ${v.vbucket} on ${escapeHtml(v.node || '?')}: ${v.state}, visible ${v.indexed} of ${v.high}, ${v.lag} behind (${v.lagSeconds.toFixed(1)} s)"></div>`,
    ),
    '</div>',
  );
  out.push(
    `<h2>Errors (${fmt(s.errorCount)} in all, grouped)</h2><table id="errors" class="err"><thead><tr><th>count</th><th>last</th><th>code</th><th>message</th></tr></thead><tbody>`,
  );
  for (const e of s.errors) {
    const ago = Math.max(0, Math.round((s.at - e.last) / 1000));
    out.push(
      `<tr><td class="n">${e.count}</td><td>${time(e.last)} (${ago} s ago)</td><td>${escapeHtml(e.code)}</td><td>${escapeHtml(e.message)}</td></tr>`,
    );
  }
  if (s.errors.length === 0) out.push('<tr><td colspan="4" class="ok">none</td></tr>');
  out.push('</tbody></table>');
  return out.join('');
}

/** The whole document: the first snapshot in place, then live updates by server-sent events. */
export function renderStatusPage(s: StatusSnapshot, readyMaxLagSeconds = 10): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tributary status: ${escapeHtml(s.verdict.state)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head><body>
<main id="live" data-ready="1">${renderStatusBody(s, readyMaxLagSeconds)}</main>
<footer><main><a href="metrics">/metrics</a> · <a href="status.json">/status.json</a> · <a href="healthz">/healthz</a> · <a href="readyz">/readyz</a> · <span id="conn">a snapshot: live updates need scripts</span></main></footer>
<script>
(() => {
  const live = document.getElementById('live'), conn = document.getElementById('conn');
  let n = 0;
  conn.textContent = 'live updates: connecting…';
  const es = new EventSource('status/events');
  es.onopen = () => { conn.textContent = 'live updates: on'; };
  es.onmessage = (m) => {
    const d = JSON.parse(m.data);
    live.innerHTML = d.html;
    document.title = 'Tributary status: ' + d.state;
    live.dataset.updates = String(++n);
  };
  es.onerror = () => { conn.textContent = 'live updates: disconnected, retrying…'; };
})();
</script></body></html>
`;
}
