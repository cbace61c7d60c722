/*
 * The three system calls Node has no API for: who is at the other end of a Unix socket
 * (SO_PEERCRED, getpeereid elsewhere), and making the daemon non-dumpable with no core file
 * (prctl(PR_SET_DUMPABLE, 0), setrlimit(RLIMIT_CORE, 0)). libc and N-API only; built by
 * scripts/build-native.mjs with the system C compiler. Loaded by src/native/peercred.ts.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 6
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <node_api.h>

static napi_value throw_errno(napi_env env, const char *what) {
  char msg[160];
  int err = errno;
  snprintf(msg, sizeof msg, "%s failed: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int set_int(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  return napi_create_double(env, v, &n) == napi_ok && napi_set_named_property(env, obj, name, n) == napi_ok;
}

/* peerCred(fd) -> { uid, gid, pid } of the process at the other end (pid -1 where unknown). */
static napi_value PeerCred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double given = -1;
  /* A whole number in range, not whatever napi_get_value_int32 makes of NaN (0) or 1.5 (1). */
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_double(env, argv[0], &given) != napi_ok || !(given >= 0 && given <= 2147483647) ||
      given != (double)(int32_t)given) {
    napi_throw_type_error(env, NULL, "peerCred needs a socket file descriptor");
    return NULL;
  }
  int32_t fd = (int32_t)given;
  double uid, gid, pid = -1;
#if defined(__linux__)
  struct ucred uc;
  socklen_t len = sizeof uc;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) return throw_errno(env, "getsockopt(SO_PEERCRED)");
  uid = uc.uid;
  gid = uc.gid;
  pid = uc.pid;
#else
  uid_t u;
  gid_t g;
  if (getpeereid(fd, &u, &g) != 0) return throw_errno(env, "getpeereid");
  uid = u;
  gid = g;
#endif
  napi_value out;
  if (napi_create_object(env, &out) != napi_ok || !set_int(env, out, "uid", uid) || !set_int(env, out, "gid", gid) ||
      !set_int(env, out, "pid", pid)) {
    napi_throw_error(env, NULL, "peerCred: could not build the result");
    return NULL;
  }
  return out;
}

/* harden() -> { dumpable, coreLimit }: no core file, and (Linux) no ptrace or /proc/PID/mem by the same uid. */
static napi_value Harden(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) return throw_errno(env, "setrlimit(RLIMIT_CORE)");
  double dumpable = -1; /* -1: the platform has no such setting */
#ifdef __linux__
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return throw_errno(env, "prctl(PR_SET_DUMPABLE)");
  dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
#endif
  struct rlimit now;
  if (getrlimit(RLIMIT_CORE, &now) != 0) return throw_errno(env, "getrlimit(RLIMIT_CORE)");
  napi_value out;
  if (napi_create_object(env, &out) != napi_ok || !set_int(env, out, "dumpable", dumpable) ||
      !set_int(env, out, "coreLimit", (double)now.rlim_cur)) {
    napi_throw_error(env, NULL, "harden: could not build the result");
    return NULL;
  }
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "peerCred", NAPI_AUTO_LENGTH, PeerCred, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "peerCred", fn) != napi_ok ||
      napi_create_function(env, "harden", NAPI_AUTO_LENGTH, Harden, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "harden", fn) != napi_ok) {
    return NULL;
  }
  return exports;
}
