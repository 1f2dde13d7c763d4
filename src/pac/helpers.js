// The PAC helper functions browsers define (Netscape's originals and Microsoft's IPv6-aware
// "Ex" family), for `pacwarden pac test` and `pacwarden check --pac`, behaving as Chromium's
// do. isPlainHostName, sortIpAddressList and isInNetEx are native (src/pac/library.rs), as in
// Chromium. DNS never reaches the network: names resolve only through __pwHosts, the
// --resolve table the tester injects before this file, and otherwise fail as an
// unresolvable name would.
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

function getClientVersion() { return "1.0"; }

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

// Date strings in the forms every browser engine reads besides ISO 8601 and RFC 1123 (the
// only ones this engine reads itself): "Tue Mar 03 2009", "Mar 03 2009 GMT",
// "Mar 03, 2009 03:34:01", "3 March 2009 10:00 PM +0100", Date's own toString(). Returns the
// time value, or NaN.
function __pwLegacyDate(text) {
  var tokens = String(text).replace(/\([^)]*\)/g, " ").split(/[\s,]+/);
  var year = -1, month = -1, day = -1, h = 0, mi = 0, sec = 0, zone = null, pm = null;
  for (var i = 0; i < tokens.length; i++) {
    var t = tokens[i].toUpperCase(), m;
    if (t === "") continue;
    if ((m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(t))) {
      h = +m[1]; mi = +m[2]; sec = m[3] ? +m[3] : 0;
    } else if (t === "AM" || t === "PM") {
      pm = t === "PM";
    } else if ((m = /^(?:GMT|UTC|UT|Z)?([+-])(\d{2}):?(\d{2})$/.exec(t)) && (zone === null || zone === 0)) {
      zone = (m[1] === "-" ? -1 : 1) * (+m[2] * 60 + +m[3]);
    } else if (t === "GMT" || t === "UTC" || t === "UT" || t === "Z") {
      zone = 0;
    } else if (/^[A-Z]+\.?$/.test(t)) {
      var name = t.substring(0, 3);
      if (__pwMonths[name] !== undefined && month < 0) month = __pwMonths[name];
      else if (__pwDays[name] === undefined) return NaN;
    } else if (/^\d+$/.test(t)) {
      if (day < 0 && t.length <= 2 && +t >= 1 && +t <= 31) day = +t;
      else if (year < 0) year = t.length <= 2 ? (+t < 50 ? 2000 + +t : 1900 + +t) : +t;
      else return NaN;
    } else if ((m = /^(\d{1,2})\/(\d{1,2})\/(\d{2,4})$/.exec(t))) {
      month = +m[1] - 1; day = +m[2]; year = +m[3];
    } else {
      return NaN;
    }
  }
  if (day < 0) day = 1;
  if (year < 0 || month < 0 || h > 24 || mi > 59 || sec > 59) return NaN;
  if (pm !== null) h = h % 12 + (pm ? 12 : 0);
  if (zone === null) return new __pwNativeDate(year, month, day, h, mi, sec).getTime();
  return __pwNativeDate.UTC(year, month, day, h, mi, sec) - zone * 60000;
}

// Date, reading those forms too: a PAC (or a test harness in it) that builds dates from
// strings gets the same dates as in a browser. Everything else is the engine's own Date.
var __pwNativeDate = Date;
Date = (function (Native) {
  function parse(text) {
    var t = Native.parse(text);
    return isNaN(t) ? __pwLegacyDate(text) : t;
  }
  function PwDate() {
    if (!(this instanceof PwDate)) return Native();
    if (arguments.length === 1 && typeof arguments[0] === "string") return new Native(parse(arguments[0]));
    return Reflect.construct(Native, Array.prototype.slice.call(arguments));
  }
  PwDate.prototype = Native.prototype;
  PwDate.parse = parse;
  PwDate.UTC = Native.UTC;
  PwDate.now = Native.now;
  return PwDate;
})(Date);

// The clock the date helpers read: the global Date at call time, so a PAC that replaces
// Date (as Chromium's own tests do) sets the time. Tests may replace __pwNow.
function __pwNow() { return new Date(); }

// The arguments without a trailing "GMT", and whether it was there.
function __pwArgs(args) {
  var list = Array.prototype.slice.call(args);
  var gmt = list.length > 0 && list[list.length - 1] === "GMT";
  if (gmt) list.pop();
  return { list: list, gmt: gmt };
}

// `now` with its local fields set to its UTC ones, so that comparing it with dates built
// from local fields compares in GMT.
function __pwAsGmt(now) {
  now.setFullYear(now.getUTCFullYear());
  now.setMonth(now.getUTCMonth());
  now.setDate(now.getUTCDate());
  now.setHours(now.getUTCHours());
  now.setMinutes(now.getUTCMinutes());
  now.setSeconds(now.getUTCSeconds());
  return now;
}

// Whether `now` lies from `from` to `to`, wrapping around when `from` comes after `to`.
function __pwWithin(from, now, to) {
  return from <= to ? from <= now && now <= to : now <= to || now >= from;
}

function weekdayRange() {
  var a = __pwArgs(arguments), now = __pwNow();
  if (a.list.length < 1) return false;
  var today = a.gmt ? now.getUTCDay() : now.getDay();
  var d1 = __pwDays.hasOwnProperty(a.list[0]) ? __pwDays[a.list[0]] : -1;
  var d2 = a.list.length === 2 ? (__pwDays.hasOwnProperty(a.list[1]) ? __pwDays[a.list[1]] : -1) : d1;
  if (d1 < 0 || d2 < 0) return false;
  return d1 <= d2 ? d1 <= today && today <= d2 : today >= d1 || today <= d2;
}

// dateRange as Netscape defined it and browsers keep it: one argument compares a day of the
// month, a month or a year; otherwise the first half of the arguments moves a start date
// (1 January, 00:00:00 of this year) and the second half an end date (31 December,
// 23:59:59), each value by the Date setter of its kind — month overflow included — and a
// range of days alone stays in the current month.
function dateRange() {
  var a = __pwArgs(arguments), l = a.list, n = l.length, now = __pwNow();
  if (n < 1) return false;
  function month(v) { return __pwMonths.hasOwnProperty(v) ? __pwMonths[v] : -1; }
  if (n === 1) {
    var v = parseInt(l[0], 10);
    if (isNaN(v)) return (a.gmt ? now.getUTCMonth() : now.getMonth()) === month(l[0]);
    if (v < 32) return (a.gmt ? now.getUTCDate() : now.getDate()) === v;
    return (a.gmt ? now.getUTCFullYear() : now.getFullYear()) === v;
  }
  var year = now.getFullYear();
  var from = new Date(year, 0, 1, 0, 0, 0), to = new Date(year, 11, 31, 23, 59, 59);
  var daysOnly = false;
  function apply(date, value, start) {
    var v = parseInt(value, 10);
    if (isNaN(v)) date.setMonth(month(value));
    else if (v < 32) {
      if (start) daysOnly = n <= 2;
      date.setDate(v);
    } else date.setFullYear(v);
  }
  for (var i = 0; i < n; i++) apply(i < n >> 1 ? from : to, l[i], i < n >> 1);
  if (daysOnly) {
    from.setMonth(now.getMonth());
    to.setMonth(now.getMonth());
  }
  if (a.gmt) now = __pwAsGmt(now);
  return __pwWithin(from, now, to);
}

// timeRange as Netscape defined it: one hour; a range of whole hours (no wrap); or hours and
// minutes (and seconds), set on today's date, wrapping around midnight.
function timeRange() {
  var a = __pwArgs(arguments), l = a.list, n = l.length, now = __pwNow();
  if (n < 1) return false;
  var hour = a.gmt ? now.getUTCHours() : now.getHours();
  if (n === 1) return hour == l[0];
  if (n === 2) return l[0] <= hour && hour <= l[1];
  if (n !== 4 && n !== 6) throw "timeRange: bad number of arguments";
  var from = __pwNow(), to = __pwNow();
  if (n === 6) {
    from.setSeconds(l[2]);
    to.setSeconds(l[5]);
  }
  var mid = n >> 1;
  from.setHours(l[0]);
  from.setMinutes(l[1]);
  to.setHours(l[mid]);
  to.setMinutes(l[mid + 1]);
  if (mid === 2) to.setSeconds(59);
  if (a.gmt) now = __pwAsGmt(now);
  return __pwWithin(from, now, to);
}

function alert(message) { __pwAlerts.push(String(message)); }
