#!/usr/bin/env bash
# Make sure the real servers the tests use are installed and running (idempotent).
# PostgreSQL: 127.0.0.1:5432, trust auth (started here if it is installed but stopped).
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_up; then
  if ls /etc/postgresql >/dev/null 2>&1; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  else
    echo "services: installing PostgreSQL"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
echo "services: PostgreSQL ready"

# tinyproxy: the HTTP tests start their own tinyproxy processes (a real CONNECT proxy);
# only the binary is needed here.
if ! command -v tinyproxy >/dev/null 2>&1 && [ ! -x /usr/bin/tinyproxy ]; then
  echo "services: installing tinyproxy"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq tinyproxy >/dev/null
fi
{ command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ]; } \
  || { echo "services: tinyproxy is not installed" >&2; exit 1; }
echo "services: tinyproxy available"
# scim2-server: the real SCIM server the target tests start on a free port (dev extra).
if [ -x .venv/bin/python ] && [ ! -x .venv/bin/scim2-server ]; then
  echo "services: installing scim2-server into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check 'scim2-server>=0.8.3,<0.9'
fi
if [ -x .venv/bin/python ]; then
  test -x .venv/bin/scim2-server || { echo "services: scim2-server is missing" >&2; exit 1; }
  echo "services: scim2-server installed"
fi
# slapd: the LDAP target tests start their own slapd processes (temporary directory, free port,
# own slapd.conf with an mdb database); only the binaries and schemas are needed here. The
# system's slapd service is not started (and not needed).
if [ ! -x /usr/sbin/slapd ] || ! command -v ldapsearch >/dev/null 2>&1 \
  || [ ! -f /etc/ldap/schema/inetorgperson.schema ]; then
  echo "services: installing slapd and ldap-utils"
  export DEBIAN_FRONTEND=noninteractive
  # keep the package's postinst from starting the system service (restored afterwards)
  policy=/usr/sbin/policy-rc.d
  created=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1
  fi
  apt-get update -qq && apt-get install -y -qq slapd ldap-utils >/dev/null
  [ -n "$created" ] && rm -f "$policy"
fi
[ -x /usr/sbin/slapd ] && [ -f /etc/ldap/schema/inetorgperson.schema ] \
  || { echo "services: slapd is not installed" >&2; exit 1; }
echo "services: slapd available"

# chromium: the service's browser tests drive Debian's headless Chromium through Playwright's
# Python package (executable_path=/usr/bin/chromium; no 'playwright install').
if [ ! -x /usr/bin/chromium ]; then
  echo "services: installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
test -x /usr/bin/chromium || { echo "services: chromium is not installed" >&2; exit 1; }
echo "services: chromium available"
