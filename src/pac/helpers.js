// The PAC helper functions browsers define (Netscape's originals and Microsoft's IPv6-aware
// "Ex" family), for `pacwarden pac test` and `pacwarden check --pac`. DNS never reaches the
// network: names resolve only through __pwHosts, the --resolve table the tester injects
// before this file, and otherwise fail as an unresolvable name would.
//
// __pwHosts: {"name": ["192.0.2.1", "2001:db8::1"], ...}; __pwMyIp: ["192.0.2.7", ...];
// __pwAlerts collects alert() messages.

var __pwAlerts = [];

function __pwIsV4(s) {
  var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return false;
  for (var i = 1; i <= 4; i++) if (parseInt(m[i], 10) > 255) return false;
  return true;
}

// An IPv6 literal as 8 numbers, or null. Accepts "::", embedded IPv4 and brackets.
function __pwV6(s) {
  if (typeof s !== "string") return null;
  if (s.charAt(0) === "[" && s.charAt(s.length - 1) === "]") s = s.substring(1, s.length - 1);
  if (s.indexOf(":") < 0) return null;
  var tail = [];
  var v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    if (!__pwIsV4(v4[2])) return null;
    var o = v4[2].split(".");
    tail = [parseInt(o[0], 10) * 256 + parseInt(o[1], 10), parseInt(o[2], 10) * 256 + parseInt(o[3], 10)];
    s = v4[1] + "0:0";
  }
  var halves = s.split("::");
  if (halves.length > 2) return null;
  var head = halves[0] ? halves[0].split(":") : [];
  var rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  var groups = head;
  if (halves.length === 2) {
    var fill = 8 - head.length - rest.length;
    if (fill < 1) return null;
    for (var f = 0; f < fill; f++) groups = groups.concat(["0"]);
    groups = groups.concat(rest);
  }
  if (groups.length !== 8) return null;
  var out = [];
  for (var g = 0; g < 8; g++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(groups[g])) return null;
    out.push(parseInt(groups[g], 16));
  }
  if (tail.length) { out[6] = tail[0]; out[7] = tail[1]; }
  return out;
}

function __pwIsIp(s) { return __pwIsV4(s) || __pwV6(s) !== null; }

// Every address of a name: the literal itself, or the --resolve entries.
function __pwLookup(host) {
  if (typeof host !== "string") return [];
  if (__pwIsIp(host)) return [host.replace(/^\[|\]$/g, "")];
  var h = host.toLowerCase();
  if (h.charAt(h.length - 1) === ".") h = h.substring(0, h.length - 1);
  return Object.prototype.hasOwnProperty.call(__pwHosts, h) ? __pwHosts[h].slice() : [];
}

function dnsResolve(host) {
  var all = __pwLookup(host);
  for (var i = 0; i < all.length; i++) if (__pwIsV4(all[i])) return all[i];
  return null;
}

function dnsResolveEx(host) { return __pwLookup(host).join(";"); }

function isResolvable(host) { return dnsResolve(host) !== null; }

function isResolvableEx(host) { return __pwLookup(host).length > 0; }

function myIpAddress() {
  for (var i = 0; i < __pwMyIp.length; i++) if (__pwIsV4(__pwMyIp[i])) return __pwMyIp[i];
  return "127.0.0.1";
}

function myIpAddressEx() { return __pwMyIp.join(";"); }

function __pwV4Number(s) {
  var o = s.split(".");
  return ((parseInt(o[0], 10) * 256 + parseInt(o[1], 10)) * 256 + parseInt(o[2], 10)) * 256 + parseInt(o[3], 10);
}

function isInNet(host, pattern, mask) {
  if (!__pwIsV4(pattern) || !__pwIsV4(mask)) return false;
  var ip = __pwIsV4(host) ? host : dnsResolve(host);
  if (ip === null) return false;
  var m = __pwV4Number(mask);
  // Bitwise operators work on signed 32-bit values; compare their unsigned forms.
  return ((__pwV4Number(ip) & m) >>> 0) === ((__pwV4Number(pattern) & m) >>> 0);
}

// Does address `ip` (v4 or v6 text) lie in `prefix` ("10.0.0.0/8", "2001:db8::/32")?
function __pwInPrefix(ip, prefix) {
  var slash = prefix.indexOf("/");
  if (slash < 0) return false;
  var net = prefix.substring(0, slash), len = parseInt(prefix.substring(slash + 1), 10);
  if (isNaN(len) || len < 0) return false;
  if (__pwIsV4(net)) {
    if (!__pwIsV4(ip) || len > 32) return false;
    var a = __pwV4Number(ip), b = __pwV4Number(net);
    var shift = Math.pow(2, 32 - len);
    return Math.floor(a / shift) === Math.floor(b / shift);
  }
  var n6 = __pwV6(net), i6 = __pwV6(ip);
  if (n6 === null || i6 === null || len > 128) return false;
  for (var g = 0; g < 8 && len > 0; g++, len -= 16) {
    var bits = Math.min(16, len), div = Math.pow(2, 16 - bits);
    if (Math.floor(n6[g] / div) !== Math.floor(i6[g] / div)) return false;
  }
  return true;
}

function isInNetEx(host, prefix) {
  var all = __pwLookup(host);
  for (var i = 0; i < all.length; i++) if (__pwInPrefix(all[i], prefix)) return true;
  return false;
}

function sortIpAddressList(list) {
  if (typeof list !== "string" || list === "") return false;
  var items = list.split(";");
  var keyed = [];
  for (var i = 0; i < items.length; i++) {
    var s = items[i].replace(/^\s+|\s+$/g, "");
    var v6 = __pwIsV4(s) ? null : __pwV6(s);
    if (!__pwIsV4(s) && v6 === null) return false;
    // IPv6 before IPv4, then numerically.
    var key = v6 !== null ? "0" : "1";
    var parts = v6 !== null ? v6 : s.split(".").map(function (x) { return parseInt(x, 10); });
    for (var p = 0; p < parts.length; p++) key += ("00000" + parts[p]).slice(-5);
    keyed.push([key, s]);
  }
  keyed.sort(function (a, b) { return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0; });
  return keyed.map(function (k) { return k[1]; }).join(";");
}

function getClientVersion() { return "1.0"; }

function isPlainHostName(host) { return host.indexOf(".") < 0; }

function dnsDomainIs(host, domain) {
  return host.length >= domain.length && host.substring(host.length - domain.length) === domain;
}

function localHostOrDomainIs(host, hostdom) {
  return host === hostdom || hostdom.lastIndexOf(host + ".", 0) === 0;
}

function dnsDomainLevels(host) { return host.split(".").length - 1; }

// Compiled patterns are kept: a PAC calling shExpMatch with the same few hundred patterns
// on every call would otherwise build a RegExp each time (browsers do; the answer is the same).
var __pwShExp = {};
function shExpMatch(url, pattern) {
  var re = __pwShExp[pattern];
  if (re === undefined) {
    re = new RegExp("^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
    __pwShExp[pattern] = re;
  }
  return re.test(url);
}

var __pwDays = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 };
var __pwMonths = { JAN: 0, FEB: 1, MAR: 2, APR: 3, MAY: 4, JUN: 5, JUL: 6, AUG: 7, SEP: 8, OCT: 9, NOV: 10, DEC: 11 };

// The clock the date helpers read. Tests may replace __pwNow.
function __pwNow() { return new Date(); }

function __pwArgs(args) {
  var list = Array.prototype.slice.call(args);
  var gmt = list.length > 0 && list[list.length - 1] === "GMT";
  if (gmt) list.pop();
  return { list: list, gmt: gmt };
}

function weekdayRange() {
  var a = __pwArgs(arguments), now = __pwNow();
  var today = a.gmt ? now.getUTCDay() : now.getDay();
  var d1 = __pwDays[a.list[0]];
  if (d1 === undefined) return false;
  if (a.list.length < 2) return today === d1;
  var d2 = __pwDays[a.list[1]];
  if (d2 === undefined) return false;
  return d1 <= d2 ? d1 <= today && today <= d2 : today >= d1 || today <= d2;
}

function dateRange() {
  var a = __pwArgs(arguments), now = __pwNow(), l = a.list;
  var cur = {
    day: a.gmt ? now.getUTCDate() : now.getDate(),
    month: a.gmt ? now.getUTCMonth() : now.getMonth(),
    year: a.gmt ? now.getUTCFullYear() : now.getFullYear()
  };
  // Sort each argument into day (1-31), month (name) or year (4 digits).
  function kind(v) {
    if (typeof v === "string" && __pwMonths[v] !== undefined) return ["month", __pwMonths[v]];
    if (typeof v === "number" && v >= 1 && v <= 31) return ["day", v];
    if (typeof v === "number" && v > 31) return ["year", v];
    return null;
  }
  var parsed = [];
  for (var i = 0; i < l.length; i++) {
    var k = kind(l[i]);
    if (k === null) return false;
    parsed.push(k);
  }
  if (parsed.length === 1) return cur[parsed[0][0]] === parsed[0][1];
  if (parsed.length % 2 !== 0 || parsed.length > 6) return false;
  var half = parsed.length / 2, from = parsed.slice(0, half), to = parsed.slice(half);
  // Compare as numbers year*10000 + month*100 + day over the fields given.
  function value(p, fill) {
    var v = { year: fill.year, month: fill.month, day: fill.day };
    for (var j = 0; j < p.length; j++) v[p[j][0]] = p[j][1];
    return v.year * 10000 + v.month * 100 + v.day;
  }
  var hasYear = from.some(function (p) { return p[0] === "year"; });
  var c = value([], cur);
  var f = value(from, hasYear ? cur : { year: cur.year, month: cur.month, day: cur.day });
  var t = value(to, hasYear ? cur : { year: cur.year, month: cur.month, day: cur.day });
  if (!hasYear && f > t) return c >= f || c <= t;
  return f <= c && c <= t;
}

function timeRange() {
  var a = __pwArgs(arguments), now = __pwNow(), l = a.list;
  var h = a.gmt ? now.getUTCHours() : now.getHours();
  var m = a.gmt ? now.getUTCMinutes() : now.getMinutes();
  var s = a.gmt ? now.getUTCSeconds() : now.getSeconds();
  var c = h * 3600 + m * 60 + s, f, t;
  if (l.length === 1) return h === l[0];
  if (l.length === 2) { f = l[0] * 3600; t = l[1] * 3600 + 3599; }
  else if (l.length === 4) { f = l[0] * 3600 + l[1] * 60; t = l[2] * 3600 + l[3] * 60 + 59; }
  else if (l.length === 6) { f = l[0] * 3600 + l[1] * 60 + l[2]; t = l[3] * 3600 + l[4] * 60 + l[5]; }
  else return false;
  return f <= t ? f <= c && c <= t : c >= f || c <= t;
}

function alert(message) { __pwAlerts.push(String(message)); }
