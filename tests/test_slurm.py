"""examples/slurm/grade.sbatch on a one-node Slurm cluster this module starts itself: an array
job of three shards, one of them cancelled in the middle of a notebook and requeued, and
`collect` as a job that waits for the array give the grades of one plain run, with nothing
graded twice.

The cluster (README "Grading on a cluster"; Debian's ``slurm-wlm``, which CI installs) is private
to this module: its own munge key and socket, its own ports, configuration and state folder
(``/tmp/course-slurm-test-<hash of the clone's path>``), every client pointed at it through
``SLURM_CONF``. So a system Slurm is left alone, and a run that was killed leaves nothing in the
way of the next one: every daemon and job started here carries ``COURSE_SLURM_TEST=<state
folder>`` in its environment, and those processes, and only those, are stopped before a new
cluster starts.
"""

import csv
import hashlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from submissions import build

from grader.course import REPO_ROOT
from grader.pipeline.autograde import shard_of

SCRIPT = REPO_ROOT / "examples" / "slurm" / "grade.sbatch"
# One folder per clone, found again by a later run; short, because munged and slurmd put Unix
# sockets in it (at most 107 bytes a path).
STATE_DIR = Path("/tmp") / f"course-slurm-test-{hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:10]}"
MARKER = "COURSE_SLURM_TEST"
SYSTEM_PATHS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel")
NOTEBOOK = "01_mnist_cam"
SHARDS = 3
JOBS_AT_ONCE = SHARDS + 1   # the shards and collect: the test cluster lets them share its cores
WAIT_SECONDS = 20 * 60
GRADE_TIMEOUT = 300
SLEEP_SECONDS = 15   # the slow student's first cell: time to see the notebook start and cancel its shard

# Two students per shard (shard_of(student, 3): ann, bob 0; hal, kim 1; cy, fay 2).
CLASS = {"ann": "reference", "bob": "untouched", "cy": "true_label", "fay": "not a notebook",
         "hal": "true_label", "kim": "reference"}
EXPECTED = [("ann", "5.0", "graded"), ("bob", "0.0", "graded"), ("cy", "3.0", "graded"),
            ("fay", "0.0", "invalid"), ("hal", "3.0", "graded"), ("kim", "5.0", "graded")]
SLOW = "kim"    # in the cancel case kim's notebook sleeps first; hal, before kim in the shard, is graded first
FIRST_OF_SLOW_SHARD = "hal"


def _notebook(kind, slow=False):
    if slow:
        assert kind == "reference"
        return build.with_first_code_cell(f"import time\ntime.sleep({SLEEP_SECONDS})")
    return build.notebook_01(kind)


def _write_class(folder, slow=None):
    for student, kind in CLASS.items():
        build.write(_notebook(kind, slow=student == slow), folder, student)
    return folder


def _rows(course_dir):
    with open(Path(course_dir) / "grades.csv") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def _summary(course_dir):
    return [(row["student_id"], row["score"], row["status"]) for row in _rows(course_dir)]


def _grader(*arguments):
    return [sys.executable, "-m", "grader", *map(str, arguments)]


def _shard_members(k):
    return {student for student in CLASS if shard_of(student, SHARDS) == k}


def _graded_lines(text):
    """The students a grader's `--progress lines` output says it graded (not reused)."""
    return re.findall(rf"\] graded ([^/\s]+)/{NOTEBOOK}:", text)


def _wait_until(predicate, what, timeout=WAIT_SECONDS, every=1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# ---------------------------------------------------------------- the processes of this module

def _proc_environ(pid):
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def _alive(pid):
    """True while ``pid`` runs (a zombie, waiting for a parent that is not this process, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _marked_processes(state_dir):
    """The processes an earlier run of this module started for ``state_dir`` (daemons, job steps, jobs)."""
    mark = f"{MARKER}={state_dir}".encode()
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and int(p.name) != os.getpid() and mark in _proc_environ(p.name)]


def _stop_marked_processes(state_dir):
    pids = _marked_processes(state_dir)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait_until(lambda: not any(_alive(pid) for pid in pids), "the processes of an earlier run to end", timeout=30,
                every=0.2)
    return pids


def _descendants(roots):
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _job_tmp(folder):
    """A TMPDIR for the jobs (clusters often give each job one): what a cancelled grader leaves stays in the test's
    folder."""
    path = Path(folder) / "tmp"
    path.mkdir(exist_ok=True)
    return str(path)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_available_mib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no MemAvailable in /proc/meminfo")


class Cluster:
    """munged, slurmctld and slurmd for one node, ``localhost``, with everything under ``state_dir``."""

    def __init__(self, state_dir):
        self.state = Path(state_dir)
        self.conf = self.state / "slurm.conf"
        self.daemons = []   # (name, Popen) in the order started
        self.cpus = len(os.sched_getaffinity(0))
        self.memory_mib = max(1000, int(_memory_available_mib() * 0.8))
        self.path = os.pathsep.join([*os.environ.get("PATH", "").split(os.pathsep), *SYSTEM_PATHS])

    def environment(self, **extra):
        return {**os.environ, "PATH": self.path, "SLURM_CONF": str(self.conf), MARKER: str(self.state), **extra}

    def run(self, *command, check=True, timeout=60):
        done = subprocess.run([shutil.which(command[0], path=self.path), *map(str, command[1:])], check=False,
                              env=self.environment(), capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, f"{' '.join(map(str, command))}: {done.stdout}{done.stderr}"
        return done

    def _daemon(self, name, *arguments):
        with open(self.state / f"{name}.out", "w") as log:
            process = subprocess.Popen([shutil.which(name, path=self.path), *map(str, arguments)],
                                       env=self.environment(), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
        self.daemons.append((name, process))
        return process

    def logs(self):
        return "\n".join(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
                         for path in sorted(self.state.glob("*.out")) + sorted(self.state.glob("*.log")))

    def start(self):
        left = _stop_marked_processes(self.state)
        if left:
            print(f"stopped {len(left)} process(es) an earlier run left behind: {left}")
        shutil.rmtree(self.state, ignore_errors=True)
        for folder in ("ctld", "spool"):
            (self.state / folder).mkdir(parents=True)
        self.state.chmod(0o755)   # munged wants the folder of its socket open to all
        key = self.state / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        munge_socket = self.state / "munge.socket"
        self.conf.write_text(f"""\
ClusterName=coursetest
SlurmctldHost=localhost
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits for its old credential to expire before it starts again
AuthInfo=socket={munge_socket},cred_expire=10
StateSaveLocation={self.state / "ctld"}
SlurmdSpoolDir={self.state / "spool"}
SlurmctldPidFile={self.state / "slurmctld.pid"}
SlurmdPidFile={self.state / "slurmd.pid"}
SlurmctldLogFile={self.state / "slurmctld.log"}
SlurmdLogFile={self.state / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
ReturnToService=2
MinJobAge=3600
NodeName=localhost CPUs={self.cpus} RealMemory={self.memory_mib} State=UNKNOWN
# All the shards and collect at once, two cores or not: none waits for a CPU another one sleeps on.
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:{JOBS_AT_ONCE}
""")
        self._daemon("munged", "--foreground", "--force", f"--socket={munge_socket}", f"--key-file={key}",
                     f"--pid-file={self.state / 'munged.pid'}", f"--seed-file={self.state / 'munged.seed'}",
                     f"--log-file={self.state / 'munged.log'}")
        started = _wait_until(lambda: munge_socket.exists() or self._died(), "munged's socket", timeout=30, every=0.2)
        assert started is True, f"{started}\n{self.logs()}"
        self._daemon("slurmctld", "-D", "-f", self.conf)
        self._daemon("slurmd", "-D", "-f", self.conf, "-N", "localhost")
        idle = _wait_until(lambda: self._died() or self.node_state() == "idle", "the node to be idle", timeout=90,
                           every=0.5)
        assert idle is True, f"a daemon stopped: {idle}\n{self.logs()}"

    def _died(self):
        return next((f"{name} exited with {p.returncode}" for name, p in self.daemons if p.poll() is not None), None)

    def node_state(self):
        done = self.run("sinfo", "-h", "-N", "-o", "%t", check=False, timeout=20)
        return done.stdout.strip() if done.returncode == 0 else None

    def stop(self):
        try:
            if self.daemons and self._died() is None:
                self.run("scancel", "--user", os.getuid(), check=False)
                _wait_until(lambda: not self.run("squeue", "-h", check=False).stdout.strip(), "cancelled jobs to end",
                            timeout=60)
        finally:
            for name, process in reversed(self.daemons):   # slurmd, slurmctld, then munged
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
            _stop_marked_processes(self.state)   # a job step a killed slurmd left behind, if any

    # ------------------------------------------------------------ jobs

    def sbatch(self, *arguments, **environment):
        """Submit; returns the job id. Jobs get ``environment`` on top of this process's (sbatch passes it on)."""
        done = subprocess.run([shutil.which("sbatch", path=self.path), "--parsable", *map(str, arguments)], check=False,
                              env=self.environment(**environment), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"sbatch {arguments}: {done.stdout}{done.stderr}"
        return done.stdout.strip().split(";")[0]

    def submit_shards(self, submissions, course_dir, output_dir, array=f"0-{SHARDS - 1}"):
        """examples/slurm/grade.sbatch as a user submits it, with one CPU a task (--jobs 1) and this Python."""
        return self.sbatch(f"--array={array}", "--cpus-per-task=1", f"--mem-per-cpu={self.memory_mib // JOBS_AT_ONCE}",
                           f"--chdir={REPO_ROOT}", f"--output={output_dir}/grade-%A_%a.out", SCRIPT, submissions,
                           course_dir, "--timeout", GRADE_TIMEOUT, PYTHON=sys.executable, TMPDIR=_job_tmp(output_dir))

    def submit_collect(self, course_dir, after, output_dir):
        command = " ".join(map(shlex.quote, _grader("collect", "--course-dir", course_dir)))
        return self.sbatch(f"--dependency=afterany:{after}", "--job-name=collect", "--cpus-per-task=1",
                           f"--mem={self.memory_mib // JOBS_AT_ONCE}", f"--chdir={REPO_ROOT}",
                           f"--output={output_dir}/collect-%j.out", "--wrap", command, TMPDIR=_job_tmp(output_dir))

    def jobs(self, job_id):
        """{array task id (None for a plain job): (state, exit code, job id)} from ``scontrol show job``."""
        done = self.run("scontrol", "show", "job", "-o", job_id)
        found = {}
        for line in done.stdout.splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            state = (fields["JobState"], fields["ExitCode"], fields["JobId"])
            if "ArrayTaskId" not in fields:
                found[None] = state
                continue
            for part in fields["ArrayTaskId"].split("%")[0].split(","):   # pending tasks: "0-2", "1,2", "0-7%2"
                first, _, last = part.partition("-")
                for task in range(int(first), int(last or first) + 1):
                    found[task] = state
        return found

    def states(self, job_id):
        return {task: state[:2] for task, state in self.jobs(job_id).items()}

    def wait(self, *job_ids):
        """Until none of ``job_ids`` is in the queue; a job Slurm could not start fails at once."""
        ids = ",".join(map(str, job_ids))

        def ended():
            queued = self.run("squeue", "-h", "-j", ids, "-o", "%i %T %r", check=False).stdout.strip()
            stuck = [line for line in queued.splitlines() if re.search(r"held|launch_failed|NeverSatisfied", line,
                                                                       re.IGNORECASE)]
            assert not stuck, f"Slurm cannot run {stuck}\n{self.logs()}"
            return not queued

        _wait_until(ended, f"jobs {ids} to end (squeue)", every=2)

    def task_runs_a_kernel(self, array_job, task):
        """True when a Jupyter kernel runs under array task ``task`` of ``array_job``."""
        job = self.jobs(array_job).get(task)
        if job is None or job[0] != "RUNNING":
            return False
        listed = self.run("scontrol", "listpids", job[2], check=False).stdout.splitlines()   # PID JOBID STEPID ...
        roots = [int(line.split()[0]) for line in listed if line.split() and line.split()[0].isdigit()]
        return any("ipykernel" in _cmdline(pid) for pid in _descendants(roots))


@pytest.fixture(scope="module")
def slurm():
    missing = [name for name in COMMANDS if shutil.which(name, path=os.pathsep.join(
        [*os.environ.get("PATH", "").split(os.pathsep), *SYSTEM_PATHS])) is None]
    if missing:
        pytest.skip(f"the system package slurm-wlm is not installed (no {', '.join(missing)}): "
                    "`apt-get install slurm-wlm` (.ci/run installs it)")
    assert os.geteuid() == 0, "the one-node Slurm cluster runs its daemons as root (slurmd starts jobs as their user)"
    cluster = Cluster(STATE_DIR)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
    assert not any(process.poll() is None for _, process in cluster.daemons)


def test_the_class_has_two_students_in_each_of_three_shards():
    assert [sorted(_shard_members(k)) for k in range(SHARDS)] == [["ann", "bob"], ["hal", "kim"], ["cy", "fay"]]
    assert sorted(_shard_members(shard_of(SLOW, SHARDS))) == [FIRST_OF_SLOW_SHARD, SLOW]


def _run_script(*arguments, **slurm):
    """examples/slurm/grade.sbatch run by bash as Slurm would start array task ``slurm``, with
    ``echo`` as its Python: what it would run."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    environment.update(PYTHON="echo", **{key: str(value) for key, value in slurm.items()})
    return subprocess.run(["bash", SCRIPT, *arguments], check=False, env=environment, capture_output=True, text=True,
                          timeout=60)


def test_the_script_grades_the_shard_of_its_array_task_with_a_job_per_cpu():
    done = _run_script("subs", "course dir", "--timeout", "900", SLURM_ARRAY_JOB_ID=7, SLURM_ARRAY_TASK_ID=2,
                       SLURM_ARRAY_TASK_COUNT=3, SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_MAX=2, SLURM_CPUS_PER_TASK=4)
    assert done.returncode == 0, done.stderr
    header, command = done.stdout.splitlines()
    assert header.startswith("grade.sbatch: shard 2/3 (job 7_2, attempt 1)")
    assert command == ("-m grader autograde subs --course-dir course dir --jobs 4 --shard 2/3 --progress lines "
                       "--timeout 900")


def test_the_script_runs_one_shard_again_only_when_told_how_many_there_are():
    alone = {"SLURM_ARRAY_JOB_ID": 7, "SLURM_ARRAY_TASK_ID": 1, "SLURM_ARRAY_TASK_COUNT": 1, "SLURM_ARRAY_TASK_MIN": 1,
             "SLURM_ARRAY_TASK_MAX": 1, "SLURM_RESTART_COUNT": 1}
    refused = _run_script("subs", "course", **alone)
    assert refused.returncode == 2 and "set SHARDS=N" in refused.stderr, refused.stderr
    again = _run_script("subs", "course", SHARDS=3, **alone)
    assert again.returncode == 0, again.stderr
    assert "(job 7_1, attempt 2)" in again.stdout and "--jobs 1 --shard 1/3 --progress lines" in again.stdout
    assert _run_script("subs", "course").returncode == 2   # not an array job
    assert _run_script("subs", SLURM_ARRAY_TASK_ID=0, SLURM_ARRAY_TASK_COUNT=1).returncode == 2   # one folder


def test_the_kubernetes_job_grades_shard_job_completion_index_of_completions_on_a_shared_volume():
    import yaml

    claim, job = yaml.safe_load_all((REPO_ROOT / "examples" / "kubernetes" / "grade-job.yaml").read_text())
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert (job["apiVersion"], job["kind"], job["spec"]["completionMode"]) == ("batch/v1", "Job", "Indexed")
    shards = job["spec"]["completions"]
    assert 1 <= job["spec"]["parallelism"] <= shards
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command = container["command"] + container["args"]
    assert all(isinstance(word, str) for word in command), command
    assert command[:4] == ["python", "-m", "grader", "autograde"]
    assert command[command.index("--shard") + 1] == f"$(JOB_COMPLETION_INDEX)/{shards}"
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"] and volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    course_dir = command[command.index("--course-dir") + 1]
    assert course_dir.startswith(mount["mountPath"] + "/") and command[4].startswith(mount["mountPath"] + "/")
    (collect_job,) = yaml.safe_load_all((REPO_ROOT / "examples" / "kubernetes" / "collect-job.yaml").read_text())
    (collector,) = collect_job["spec"]["template"]["spec"]["containers"]
    assert collector["command"] == ["python", "-m", "grader", "collect", "--course-dir", course_dir]
    assert collect_job["spec"]["template"]["spec"]["volumes"] == pod["volumes"]


def test_an_array_of_three_shards_with_one_cancelled_in_a_notebook_then_requeued_and_collect_as_a_dependent_job(
        slurm, tmp_path):
    """The shards that are not cancelled finish on their first attempt; the cancelled one, requeued,
    grades only what it had not finished; collect then gives every student the grade a plain run
    gives (build.expected_row_01, which the 01 battery checks kind by kind), once."""
    submissions = _write_class(tmp_path / "submissions", slow=SLOW)
    course, results = tmp_path / "course", tmp_path / "course" / "results"
    slow_shard = shard_of(SLOW, SHARDS)
    array = slurm.submit_shards(submissions, course, tmp_path)
    collect_job = None
    try:
        # The slow shard grades hal first, then kim, whose first cell sleeps: once hal's result is
        # saved and a kernel runs in that task, it is kim's; cancel the task there.
        def grading_the_slow_notebook():
            state = slurm.states(array).get(slow_shard)
            assert state is not None, slurm.jobs(array)
            assert state[0] in ("PENDING", "CONFIGURING", "RUNNING"), f"the slow shard ended first: {state}"
            assert not (results / f"{SLOW}__{NOTEBOOK}.json").exists(), "kim was graded before the shard was cancelled"
            return (results / f"{FIRST_OF_SLOW_SHARD}__{NOTEBOOK}.json").exists() and \
                slurm.task_runs_a_kernel(array, slow_shard)

        _wait_until(grading_the_slow_notebook, "the slow shard to start kim's notebook", every=0.5)
        slurm.run("scancel", f"{array}_{slow_shard}")
        slurm.wait(array)
        states = slurm.states(array)
        assert states[slow_shard][0] == "CANCELLED", states
        assert {k: states[k] for k in range(SHARDS) if k != slow_shard} == {
            k: ("COMPLETED", "0:0") for k in range(SHARDS) if k != slow_shard}, states
        assert not (results / f"{SLOW}__{NOTEBOOK}.json").exists()

        missing = subprocess.run(_grader("collect", "--course-dir", course), check=False, cwd=REPO_ROOT,
                                 capture_output=True, text=True, timeout=600)
        assert missing.returncode == 1, missing.stdout[-3000:]
        assert "1 submission(s) have no result yet" in missing.stdout and f"{SLOW}/{NOTEBOOK}" in missing.stdout
        assert [row["student_id"] for row in _rows(course)] == [s for s in CLASS if s != SLOW]

        # The same task again (same array job, same SLURM_ARRAY_TASK_COUNT): `scontrol requeue`
        # works on a cancelled array task; then collect as a job that waits for the array.
        slurm.run("scontrol", "requeue", f"{array}_{slow_shard}")
        collect_job = slurm.submit_collect(course, array, tmp_path)
        slurm.wait(array, collect_job)
    finally:
        slurm.run("scancel", array, *([collect_job] if collect_job else []), check=False)

    assert slurm.states(array) == {k: ("COMPLETED", "0:0") for k in range(SHARDS)}, slurm.logs()
    assert slurm.states(collect_job) == {None: ("COMPLETED", "0:0")}   # collect exited 0: nothing missing
    output = (tmp_path / f"grade-{array}_{slow_shard}.out").read_text()   # both attempts (--open-mode=append)
    first, again = output.split(f"grade.sbatch: shard {slow_shard}/{SHARDS} (job {array}_{slow_shard}, attempt 2)")
    assert f"(job {array}_{slow_shard}, attempt 1)" in first, output
    assert _graded_lines(first) == [FIRST_OF_SLOW_SHARD], output   # then cancelled in kim's notebook
    assert _graded_lines(again) == [SLOW], output                  # hal's result reused, not graded again

    for k in set(range(SHARDS)) - {slow_shard}:
        output = (tmp_path / f"grade-{array}_{k}.out").read_text()
        assert f"grade.sbatch: shard {k}/{SHARDS} (job {array}_{k}, attempt 1)" in output, output
        assert "attempt 2" not in output and sorted(_graded_lines(output)) == sorted(_shard_members(k)), output

    assert _summary(course) == EXPECTED
    assert _rows(course) == [build.expected_row_01(student, CLASS[student]) for student in sorted(CLASS)]
    assert Counter((row["student_id"], row["notebook"]) for row in _rows(course)) == {
        (student, NOTEBOOK): 1 for student in CLASS}
    assert sorted(p.name for p in results.iterdir()) == [f"{s}__{NOTEBOOK}.json" for s in CLASS]
    collected = (tmp_path / f"collect-{collect_job}.out").read_text()
    assert "no result yet" not in collected and "grades: " in collected, collected
    for student in CLASS:
        assert (course / "feedback" / student / NOTEBOOK / f"{NOTEBOOK}.html").is_file(), student
