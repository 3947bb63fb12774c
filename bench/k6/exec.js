// One /exec scenario under load. Configured by environment variables (scripts/bench sets them):
//   BASE, KEY          the API and its key
//   SCENARIO           py_print | js_print | c_print | py_pandas_png
//   MODE               closed: VUS virtual users back to back for DURATION
//                      paced:  RATE requests per second for DURATION (one at a time)
//                      open:   RATE requests per second for DURATION, at most VUS in flight (an
//                              arrival that finds all VUS busy is dropped, and the req/s shows it)
//   SESSION            unset: every request a session of its own; "vu": each virtual user keeps one
//                      session (session_id "<RUN>-<vu>"), like a conversation's runs
import http from 'k6/http';
import { check } from 'k6';

const SCENARIOS = {
  py_print: { lang: 'py', code: 'print(1)', files: 0, stdout: '1\n' },
  js_print: { lang: 'js', code: 'console.log(1)', files: 0, stdout: '1\n' },
  c_print: {
    lang: 'c',
    code: '#include <stdio.h>\nint main(void) { puts("1"); return 0; }\n',
    files: 0,
    stdout: '1\n',
  },
  py_pandas_png: {
    lang: 'py',
    code:
      'import pandas as pd\nimport matplotlib.pyplot as plt\n' +
      "df = pd.DataFrame({'x': range(50), 'y': [i * i for i in range(50)]})\n" +
      "df.plot(x='x', y='y')\nplt.savefig('plot.png')\nprint(len(df))\n",
    files: 1,
  },
};

const scenario = SCENARIOS[__ENV.SCENARIO || 'py_print'];
const mode = __ENV.MODE || 'closed';
const duration = __ENV.DURATION || '30s';
const vus = Number(__ENV.VUS || 1);

export const options = {
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'avg', 'max'],
  scenarios: {
    load:
      mode === 'paced' || mode === 'open'
        ? {
            executor: 'constant-arrival-rate',
            rate: Number(__ENV.RATE || 1),
            timeUnit: '1s',
            duration,
            preAllocatedVUs: mode === 'open' ? vus : 1,
            maxVUs: mode === 'open' ? vus : 1,
          }
        : { executor: 'constant-vus', vus, duration },
  },
};

const sessionPerVu = __ENV.SESSION === 'vu';
const plain = JSON.stringify({ lang: scenario.lang, code: scenario.code });
function body() {
  if (!sessionPerVu) {
    return plain;
  }
  return JSON.stringify({
    lang: scenario.lang,
    code: scenario.code,
    session_id: `${__ENV.RUN || 'bench'}-${__VU}`,
  });
}
const params = {
  headers: { 'Content-Type': 'application/json', 'X-API-Key': __ENV.KEY },
  timeout: '120s',
};

export default function () {
  const res = http.post(`${__ENV.BASE}/v1/exec`, body(), params);
  check(res, {
    'status 200': (r) => r.status === 200,
    'code ran ok': (r) => r.status === 200 && r.json('status') === 'ok',
    'files returned': (r) => r.status === 200 && (r.json('files') || []).length === scenario.files,
    'stdout as expected': (r) =>
      scenario.stdout === undefined || (r.status === 200 && r.json('stdout') === scenario.stdout),
  });
}
