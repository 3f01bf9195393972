# Sourced by the scripts that install Debian packages when missing (services.sh, redis-cluster.sh,
# redis-sentinel.sh). The sourcing script defines log and die first.

is_root() { [ "$(id -u)" -eq 0 ]; }

# apt-get install the packages given (apt-get update once per run first); only as root.
apt_updated=0
apt_install() {
  is_root || die "$* missing and not running as root; install them with: sudo apt-get install -y $*"
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
