// Evaluates a PAC file in Node's V8 (the engine Chromium uses): node pac-eval.js FILE
// reads one host per line on stdin and prints "host<TAB>result" for each. The PAC runs in
// a fresh vm context with only the helpers defined here; none of them touches the network.
"use strict";
const fs = require("fs");
const vm = require("vm");

const sandbox = {
  isPlainHostName: (h) => h.indexOf(".") < 0,
  dnsDomainIs: (h, d) => h.length >= d.length && h.substring(h.length - d.length) === d,
  shExpMatch: (s, p) => new RegExp("^" + p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$").test(s),
  // Name resolution is refused: a PAC that needs it is wrong.
  dnsResolve: () => { throw new Error("dnsResolve called"); },
  isResolvable: () => { throw new Error("isResolvable called"); },
  isInNet: () => { throw new Error("isInNet called"); },
  myIpAddress: () => { throw new Error("myIpAddress called"); },
};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.argv[2], "utf8"), sandbox, { filename: "proxy.pac" });
const hosts = fs.readFileSync(0, "utf8").split("\n").filter((l) => l.length > 0);
const out = [];
for (const h of hosts) {
  out.push(h + "\t" + sandbox.FindProxyForURL("https://" + h + "/", h));
}
process.stdout.write(out.join("\n") + "\n");
