// Reads a pprof profile with pprof-format (Datadog's pure-JavaScript decoder of google/pprof's profile.proto,
// written independently of ztunnel's encoder) and prints, as one JSON line, what a pprof tool would take from it.
// Usage: node pprof-read.cjs <pprof-format package dir> <profile file>
'use strict';
const fs = require('fs');
const path = require('path');
const { Profile } = require(path.join(process.argv[2], 'dist', 'commonjs', 'index.js'));

const p = Profile.decode(fs.readFileSync(process.argv[3]));
const str = (i) => p.stringTable.strings[Number(i)];
const locations = new Map(p.location.map((l) => [Number(l.id), l]));
const functions = new Map(p.function.map((f) => [Number(f.id), f]));
let unresolved = 0;
const leaves = new Set();
const threads = new Set();
const totals = p.sampleType.map(() => 0);
for (const s of p.sample) {
  s.value.forEach((v, i) => { totals[i] += Number(v); });
  s.locationId.forEach((id, depth) => {
    const loc = locations.get(Number(id));
    const fn = loc && loc.line.length ? functions.get(Number(loc.line[0].functionId)) : undefined;
    if (!fn) {
      unresolved++;
    } else if (depth === 0) {
      leaves.add(str(fn.name));
    }
  });
  for (const l of s.label) {
    if (str(l.key) === 'thread') threads.add(str(l.str));
  }
}
console.log(JSON.stringify({
  firstString: p.stringTable.strings[0],
  sampleTypes: p.sampleType.map((t) => `${str(t.type)}/${str(t.unit)}`),
  periodType: p.periodType ? `${str(p.periodType.type)}/${str(p.periodType.unit)}` : null,
  period: Number(p.period),
  durationNanos: Number(p.durationNanos),
  timeNanos: Number(p.timeNanos),
  samples: p.sample.length,
  totals,
  unresolved,
  functions: [...functions.values()].map((f) => str(f.name)),
  leaves: [...leaves],
  threads: [...threads],
}));
