// A thin layer over Chart.js (the vendored UMD build, loaded by index.html as window.Chart): the
// dashboard's look in one place, and charts that are updated in place, so a refresh every minute
// redraws the same canvas instead of flashing a new one.

export const COLORS = {
  occupied: '#d23c3c',
  free: '#1f9d55',
  accent: '#2358c4',
  grid: '#e6e9ee',
  ink: '#5b6775',
};

let styled = false;

/** Chart.js, with the page's defaults applied once; null when the script did not load. */
function lib() {
  const Chart = window.Chart;
  if (typeof Chart !== 'function') return null;
  if (!styled) {
    // The canvas cannot inherit CSS, so the page's font and muted ink are handed over here.
    const css = getComputedStyle(document.documentElement);
    Chart.defaults.font.family = css.fontFamily || Chart.defaults.font.family;
    Chart.defaults.font.size = 12;
    Chart.defaults.color = COLORS.ink;
    styled = true;
  }
  return Chart;
}

/** Whether charts can be drawn: the vendored script may be blocked or fail to load. */
export function chartsAvailable() {
  return lib() !== null;
}

/** '#d23c3c' with an alpha of 0–1, for area fills. */
function alpha(hex, a) {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

/**
 * A chart on `canvas` (which should sit in a container of fixed height: the chart fills it).
 *
 *   kind     'line' | 'bar'
 *   series   [{label, color, fill?, points?}]: `points` keeps the dots of a line drawn, which a
 *            line with gaps needs so that a lone value between two gaps stays visible
 *   y        {min?, max?, suggestedMax?, integer?, tick?(value) → text}
 *   tooltip  {title?(index) → text, value?(value, seriesIndex) → text}
 *
 * Answers {update({labels, values, summary}), destroy()}; `values` holds one array per series
 * (null is a gap) and `summary` becomes the canvas's accessible name.
 */
export function createChart(canvas, { kind, series, y = {}, tooltip = {} }) {
  const Chart = lib();
  if (!Chart) throw new Error('Chart.js is not loaded');
  canvas.setAttribute('role', 'img');

  const datasets = series.map((s) =>
    kind === 'line'
      ? {
          label: s.label,
          data: [],
          borderColor: s.color,
          backgroundColor: s.fill ? alpha(s.color, 0.12) : s.color,
          fill: s.fill ? 'origin' : false,
          borderWidth: 2,
          tension: 0.25,
          spanGaps: false,
          pointRadius: s.points ? 3 : 0,
          pointHoverRadius: 4,
          pointBackgroundColor: s.color,
        }
      : {
          label: s.label,
          data: [],
          backgroundColor: s.color,
          borderRadius: 3,
          maxBarThickness: 18,
          categoryPercentage: 0.8,
          barPercentage: 0.9,
        },
  );

  const chart = new Chart(canvas, {
    type: kind,
    data: { labels: [], datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 300 },
      interaction: { mode: 'index', intersect: false },
      plugins: {
        legend: {
          display: series.length > 1,
          position: 'bottom',
          labels: { boxWidth: 12, boxHeight: 12, padding: 12 },
        },
        tooltip: {
          callbacks: {
            title: (items) => (items.length && tooltip.title ? tooltip.title(items[0].dataIndex) : undefined),
            label: (item) =>
              `${item.dataset.label}: ${tooltip.value ? tooltip.value(item.raw, item.datasetIndex) : item.formattedValue}`,
          },
        },
      },
      scales: {
        x: {
          grid: { display: false },
          ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 14 },
        },
        y: {
          beginAtZero: true,
          min: y.min,
          max: y.max,
          suggestedMax: y.suggestedMax,
          grid: { color: COLORS.grid },
          border: { display: false },
          ticks: {
            maxTicksLimit: 6,
            precision: y.integer ? 0 : undefined,
            callback: y.tick ? (value) => y.tick(value) : undefined,
          },
        },
      },
    },
  });

  let drawn = false;
  return {
    update({ labels, values, summary }) {
      chart.data.labels = labels;
      values.forEach((v, i) => {
        if (chart.data.datasets[i]) chart.data.datasets[i].data = v;
      });
      if (summary) canvas.setAttribute('aria-label', summary);
      // The first data grows in; later refreshes use 'none' so that the minute's refresh moves
      // the values without replaying that animation. A 'none' update leaves an animation under
      // way running towards its old targets (a range chosen while the first data grows in would
      // keep half of the old line), so that one is stopped first.
      if (drawn) chart.stop();
      chart.update(drawn ? 'none' : undefined);
      drawn = true;
    },
    destroy() {
      chart.destroy();
    },
  };
}
