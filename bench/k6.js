// The k6 side of bench/compare.sh: one GET of the target's root, in the
// load shape the environment gives. SHAPE=vus runs VUS users without pause
// for DURATION; SHAPE=rate starts RATE requests per second for DURATION.
// The end-of-test summary data is written as JSON to SUMMARY.
import http from 'k6/http';

const shape = __ENV.SHAPE || 'rate';
const scenario = shape === 'vus'
  ? { executor: 'constant-vus', vus: Number(__ENV.VUS), duration: __ENV.DURATION }
  : {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE),
      timeUnit: '1s',
      duration: __ENV.DURATION,
      preAllocatedVUs: Number(__ENV.VUS || 50),
      maxVUs: Number(__ENV.VUS || 50) * 4,
    };

export const options = {
  scenarios: { bench: scenario },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(50)', 'p(99)'],
  discardResponseBodies: true,
};

export default function () {
  http.get(__ENV.TARGET);
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
