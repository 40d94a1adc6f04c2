#!/usr/bin/env bash
# A one-machine Slurm cluster on 127.0.0.1 for the Slurm executor's tests (README "Running on a Slurm
# cluster"): munged, slurmctld and two slurmd nodes (node1, node2: distinct NodeName and port, `slurmd -N`),
# Debian slurm-wlm 22.05. Config and state in a git-ignored folder ($SBIR_SLURM_DIR, default .slurm/).
#
#   bash scripts/slurm.sh start    install the Debian packages if missing (root), start, wait for idle nodes
#   bash scripts/slurm.sh stop     stop what start started (munged only if start started it)
#   bash scripts/slurm.sh status   sinfo, or "not running"
#   bash scripts/slurm.sh env      the line to export (SLURM_CONF=...)
#
# Clients find the cluster through SLURM_CONF=<dir>/slurm.conf (start prints it). Environment:
# SBIR_SLURM_DIR, SBIR_SLURM_PORT (slurmctld port, default 16817; the nodes use the next two),
# SBIR_SLURM_START_TIMEOUT (seconds to wait for idle nodes, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$(mkdir -p "${SBIR_SLURM_DIR:-.slurm}" && cd "${SBIR_SLURM_DIR:-.slurm}" && pwd)"
PORT="${SBIR_SLURM_PORT:-16817}"
CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

die() {
  echo "slurm.sh: $*" >&2
  exit 1
}

install_packages() {
  local missing=()
  for cmd in slurmctld slurmd sbatch munged; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; install them with: sudo apt-get install -y slurmctld slurmd slurm-client munge"
  echo "slurm.sh: installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  munge_ok && return 0
  [ -f /etc/munge/munge.key ] || {
    mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null || die "no /etc/munge/munge.key and mungekey failed"
    chown munge:munge /etc/munge/munge.key
    chmod 600 /etc/munge/munge.key
  }
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  # munged refuses to run as root; it runs as the munge user, as the Debian service does.
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do
    if munge_ok; then
      # munged writes its own pid file once it has daemonised; stop uses our copy (we started it)
      cp /run/munge/munged.pid "$DIR/munged.pid" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
  die "munged did not answer (see /var/log/munge/munged.log)"
}

write_conf() {
  local cores mem_mib node_cpus node_mem
  cores=$(nproc)
  mem_mib=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
  # Two nodes sharing this machine's cores (at least one each): tasks really spread over nodes.
  node_cpus=$((cores / 2 > 0 ? cores / 2 : 1))
  node_mem=$((mem_mib * 4 / 10))
  mkdir -p "$DIR/state" "$DIR/spool/node1" "$DIR/spool/node2" "$DIR/log"
  cat >"$CONF" <<EOF
# written by scripts/slurm.sh (regenerated on every start)
ClusterName=sbirci
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job waits cred_expire seconds before it may start again (default 120): short, so that the
# requeue test (1-minute time limit) does not spend most of its time waiting
AuthInfo=cred_expire=10
SlurmctldPort=$PORT
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((node_mem / node_cpus < 2048 ? node_mem / node_cpus : 2048))
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
EnforcePartLimits=ALL
KillWait=30
SlurmdTimeout=60
NodeName=node1 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((PORT + 1)) CPUs=$node_cpus RealMemory=$node_mem State=UNKNOWN
NodeName=node2 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((PORT + 2)) CPUs=$node_cpus RealMemory=$node_mem State=UNKNOWN
PartitionName=debug Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP
EOF
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  install_packages
  start_munge
  if pid_alive "$DIR/slurmctld.pid"; then
    echo "slurm.sh: already running (SLURM_CONF=$CONF)"
    return 0
  fi
  write_conf
  /usr/sbin/slurmctld -f "$CONF"
  for node in node1 node2; do /usr/sbin/slurmd -f "$CONF" -N "$node"; done
  local timeout="${SBIR_SLURM_START_TIMEOUT:-60}" idle=""
  for _ in $(seq $((timeout * 2))); do
    idle=$(sinfo -h -N -o '%N %T' 2>/dev/null | awk '$2 == "idle"' | wc -l)
    [ "$idle" -eq 2 ] && break
    sleep 0.5
  done
  [ "$idle" -eq 2 ] || die "nodes not idle after ${timeout}s: $(sinfo -h -N -o '%N=%T' 2>&1 | tr '\n' ' ')(logs: $DIR/log/)"
  echo "slurm.sh: cluster up, 2 nodes idle; export SLURM_CONF=$CONF"
}

stop_pidfile() {
  local file="$1" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$file"
}

stop() {
  if pid_alive "$DIR/slurmctld.pid"; then scancel --quiet --full --user "$(id -un)" 2>/dev/null || true; fi
  for node in node1 node2; do stop_pidfile "$DIR/slurmd-$node.pid"; done
  stop_pidfile "$DIR/slurmctld.pid"
  stop_pidfile "$DIR/munged.pid"
  echo "slurm.sh: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) pid_alive "$DIR/slurmctld.pid" && sinfo -N || echo "slurm.sh: not running ($DIR)" ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) die "usage: scripts/slurm.sh start|stop|status|env" ;;
esac
