#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit + property tests, end-to-end tests of the
# real binary. Installs what the tests need on a fresh Debian machine (nothing beyond the
# Rust toolchain so far).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# Property tests: compiled matcher vs naive reference. Raise for a longer soak.
PROPTEST_CASES="${PROPTEST_CASES:-1024}" cargo test --locked
