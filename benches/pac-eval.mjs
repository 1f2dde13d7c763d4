// Cost of one FindProxyForURL call in V8 (Node's engine, the one Chromium uses), with the
// PAC helper functions defined inside the vm context as Chromium defines them — notably
// shExpMatch, which builds a new RegExp on every call. DNS helpers throw: the generated PACs
// must never call them. Nothing here touches the network.
//
// usage: node benches/pac-eval.mjs PAC_FILE HOSTS_FILE [SECONDS]
import fs from "node:fs";
import vm from "node:vm";

const [pacFile, hostsFile, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg || "2");
const pac = fs.readFileSync(pacFile, "utf8");
const hosts = fs.readFileSync(hostsFile, "utf8").split("\n").filter(Boolean);

const helpers = `
function isPlainHostName(host) { return host.search('\\\\.') == -1; }
function dnsDomainIs(host, domain) {
  return host.length >= domain.length && host.substring(host.length - domain.length) == domain;
}
function localHostOrDomainIs(host, hostdom) {
  return host == hostdom || hostdom.lastIndexOf(host + '.', 0) == 0;
}
function dnsDomainLevels(host) { return host.split('.').length - 1; }
function shExpMatch(url, pattern) {
  pattern = pattern.replace(/\\./g, '\\\\.');
  pattern = pattern.replace(/\\*/g, '.*');
  pattern = pattern.replace(/\\?/g, '.');
  var newRe = new RegExp('^' + pattern + '$');
  return newRe.test(url);
}
function dnsResolve(h) { throw new Error('dnsResolve called'); }
function dnsResolveEx(h) { throw new Error('dnsResolveEx called'); }
function isResolvable(h) { throw new Error('isResolvable called'); }
function isInNet(h) { throw new Error('isInNet called'); }
function myIpAddress() { throw new Error('myIpAddress called'); }
`;

// Helpers and PAC run inside one function scope in the context, with the built-ins they use
// bound to locals: a vm context's global object is reached through interceptors, which would
// make every global lookup (tables, helpers, Object, RegExp) several times slower than in a
// browser's PAC context, whose global is an ordinary object.
const ctx = vm.createContext({});
const loadStart = process.hrtime.bigint();
const builtins = "Object, RegExp, Math, String, Number, Array, JSON, Date, parseInt, isNaN";
const find = vm.runInContext(
  `(function () {\nconst { ${builtins} } = globalThis;\n${helpers}\n${pac}\n;return FindProxyForURL;\n})()`,
  ctx,
  { filename: pacFile }
);
const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;

// Warm up, then time whole passes over the host list until the time budget is spent.
const warm = Math.min(hosts.length, 200);
for (let i = 0; i < warm; i++) find("http://" + hosts[i] + "/", hosts[i]);
// The clock is read about once a millisecond: often enough to stop a slow PAC on time,
// rarely enough not to weigh on a fast one.
let calls = 0, direct = 0, stride = 1, done = false;
const start = process.hrtime.bigint();
const budget = BigInt(Math.round(seconds * 1e9));
while (!done) {
  for (let i = 0; i < hosts.length; i++) {
    const r = find("http://" + hosts[i] + "/", hosts[i]);
    if (r === "DIRECT") direct++;
    calls++;
    if (calls % stride === 0) {
      const spent = process.hrtime.bigint() - start;
      if (calls === 64) stride = Math.max(1, Math.floor(1e6 / (Number(spent) / 64)));
      if (spent > budget) { done = true; break; }
    }
  }
}
const elapsed = process.hrtime.bigint() - start;
const usPerCall = Number(elapsed) / 1e3 / calls;
console.log(JSON.stringify({ calls, us_per_call: usPerCall, direct_share: direct / calls, load_ms: loadMs }));
