// Summarises http-cache-tests results as the suite's own display does
// (lib/display.mjs determineTestResult): per results file, how many tests
// passed, failed, failed optionally, and so on, and the list of failures.
//
//   node cachetests-summary.mjs SUITE_DIR shoal.json squid.json
import { pathToFileURL } from 'url'
import fs from 'fs'
import path from 'path'

const [suiteDir, ...files] = process.argv.slice(2)
const { default: tests } = await import(pathToFileURL(path.join(suiteDir, 'tests/index.mjs')))
const { default: surrogate } = await import(pathToFileURL(path.join(suiteDir, 'tests/surrogate-control.mjs')))
tests.push(surrogate)
const byId = new Map()
for (const suite of tests) for (const t of suite.tests) byId.set(t.id, t)

function result (id, results) {
  const test = byId.get(id)
  const r = results[id]
  if (r === undefined) return 'untested'
  if (test.depends_on !== undefined) {
    for (const dep of test.depends_on) {
      if (!['pass', 'yes'].includes(result(dep, results))) return 'dependency_fail'
    }
  }
  if (r[0] === 'Setup') return r[1] === 'retry' ? 'retry' : 'setup_fail'
  if (r === false && r[0] !== 'Assertion') return 'harness_fail'
  const kind = test.kind || 'required'
  if (kind === 'required') return r === true ? 'pass' : 'fail'
  if (kind === 'optimal') return r === true ? 'pass' : 'optional_fail'
  return r === true ? 'yes' : 'no'
}

const kinds = ['pass', 'fail', 'optional_fail', 'yes', 'no', 'setup_fail', 'harness_fail', 'dependency_fail', 'retry', 'untested']
const rows = []
for (const f of files) {
  const results = JSON.parse(fs.readFileSync(f, 'utf8'))
  const counts = Object.fromEntries(kinds.map(k => [k, 0]))
  const failed = []
  for (const id of byId.keys()) {
    const k = result(id, results)
    counts[k]++
    if (k === 'fail') failed.push(id)
  }
  rows.push({ file: path.basename(f), ...counts, failed })
}
console.log(['results', ...kinds].join('\t'))
for (const r of rows) console.log([r.file, ...kinds.map(k => r[k])].join('\t'))
for (const r of rows) console.log(`\n${r.file} fails (${r.failed.length}): ${r.failed.join(' ')}`)
