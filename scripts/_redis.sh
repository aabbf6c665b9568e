# Sourced by the scripts that run the test suite: the Redis tests (the throttle state shared
# between processes) run against a real redis-server, never a fake. Install it from Debian's
# packages when it is missing and we can (root, with apt-get, as on CI's bare machine);
# otherwise say once that those tests will be skipped (a failure in CI, where CI=true).
# Usage: . scripts/_redis.sh
if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing redis-server from Debian's packages (the Redis tests need a real one)"
        export DEBIAN_FRONTEND=noninteractive
        # an empty package list on a fresh machine: update it, then install
        apt-get install -y -qq redis-server >/dev/null 2>&1 ||
            { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
    else
        echo "redis-server is not installed (apt-get install redis-server): the Redis tests will be skipped"
    fi
fi
