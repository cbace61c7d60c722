/*
 * A seeded mutation loop over the native client's parsers (src/native/authd-client.c): the daemon's
 * answer (a token, or an error handed to Node) and KUBERNETES_EXEC_INFO. Built with AddressSanitizer and UndefinedBehaviorSanitizer by
 * scripts/native-sanitizer.mjs and run for a bounded time; a sanitizer report, or an answer accepted
 * whose printed token is not one bearer token on one line, fails it.
 *
 *   fuzz-answer SECONDS SEED
 */
#define AUTHD_NO_MAIN
#define AUTHD_TEST_FALLBACK
#include "../../src/native/authd-client.c"

static long long now_ms_fuzz(double plus_seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (long long)(plus_seconds * 1000);
}

static uint64_t rng;
static uint64_t next(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}

static const char *const SEEDS[] = {
  "{\"id\":1,\"result\":{\"access_token\":\"abc.DEF-_~+/==\",\"token_type\":\"Bearer\",\"expires_at\":1900000000,\"profile\":\"p\"}}",
  "{\"v\":1,\"id\":1,\"result\":{\"profile\":\"x\\ty\",\"token_type\":\"dP\\u00f6\\ud83d\\ude00\\\"\",\"access_token\":\"t\",\"expires_at\":null}}",
  " {\"result\" : {\"extra\":[1,-2.5e+3,{\"a\":[true,false,null]}],\"token_type\":\"DPoP\",\"access_token\":\"t\",\"profile\":\"p\"}, \"id\":1}\r",
  "{\"id\":1,\"error\":{\"code\":\"login_required\",\"message\":\"log in\",\"data\":{\"env\":\"X\"}}}",
  "{\"v\":1,\"error\":{\"code\":\"secret_required\",\"message\":\"m\",\"hint\":\"h\\n\",\"code\":\"x\"},\"id\":1}",
  "{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"spec\":{\"interactive\":false}}",
  "{\"apiVersion\":\"\\u0063lient.authentication.k8s.io/v1\",\"apiVersion\":7}",
  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
};
static const char *const TOKENS[] = {"{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "null", "1", "-0",
  "1e999", "9007199254740993", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x00", "\n", " ", "\"access_token\"", "\"id\"", "\"v\""};

static char in[MAX_FRAME + 64];
static char text[MAX_FRAME + 64];
static struct token tok;
static char out[4 * MAX_FRAME + 512];

static void mutate(size_t *n) {
  int k = 1 + (int)(next() % 8);
  while (k--) {
    size_t at = *n ? next() % (*n + 1) : 0;
    switch (next() % 6) {
      case 0: if (*n) in[at % *n] ^= (char)(1u << (next() % 8)); break;
      case 1: if (*n) in[at % *n] = (char)next(); break;
      case 2: { /* insert a token */
        const char *t = TOKENS[next() % (sizeof TOKENS / sizeof *TOKENS)];
        size_t len = *t ? strlen(t) : 1;
        if (*n + len >= sizeof in) break;
        memmove(in + at + len, in + at, *n - at);
        memcpy(in + at, t, len);
        *n += len;
        break;
      }
      case 3: { /* delete a range */
        size_t len = next() % 8;
        if (at + len > *n) len = *n - at;
        memmove(in + at, in + at + len, *n - at - len);
        *n -= len;
        break;
      }
      case 4: { /* duplicate a range */
        size_t from = *n ? next() % *n : 0, len = next() % 64;
        if (from + len > *n) len = *n - from;
        char piece[64];
        if (*n + len >= sizeof in) break;
        memcpy(piece, in + from, len);
        memmove(in + at + len, in + at, *n - at);
        memcpy(in + at, piece, len);
        *n += len;
        break;
      }
      case 5: *n = at; break; /* truncate */
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fputs("usage: fuzz-answer SECONDS SEED\n", stderr);
    return 2;
  }
  (void)fallback, (void)g_argv, (void)g_argc, (void)g_answer;
  double seconds = atof(argv[1]);
  rng = strtoull(argv[2], NULL, 10) | 1;
  long long end = now_ms_fuzz(seconds);
  unsigned long long runs = 0, accepted = 0;
  const size_t nseeds = sizeof SEEDS / sizeof *SEEDS;
  while (runs % 1024 || now_ms_fuzz(0) < end) {
    const char *seed = SEEDS[next() % nseeds];
    size_t n = strlen(seed);
    memcpy(in, seed, n);
    if (runs % 4) mutate(&n);
    runs++;
    /* An exact-size copy, so that ASan sees any read past the end. */
    char *frame_copy = malloc(n ? n : 1);
    memcpy(frame_copy, in, n);
    if (parse_answer(frame_copy, n, &tok)) {
      accepted++;
      for (int f = F_TOKEN; f <= F_EXEC; f++) {
        struct buf b = {out, 0, sizeof out, 0};
        int ok = format_token(&tok, (enum format)f, f == F_EXEC ? EXEC_V1BETA1 : EXEC_V1, &b);
        if (!ok) continue;
        char *nl = memchr(b.p, '\n', b.len);
        if (nl != b.p + b.len - 1) {
          fprintf(stderr, "format %d printed a line break inside its output\n", f);
          return 1;
        }
        if (f == F_TOKEN && !bearer_token(b.p, b.len - 1)) {
          fprintf(stderr, "a token that is not a bearer token was printed\n");
          return 1;
        }
      }
    }
    const char *err;
    size_t err_len;
    int secret;
    if (parse_error_answer(frame_copy, n, &err, &err_len, &secret)) {
      /* What goes into AUTHD_NATIVE_ANSWER: one JSON object, inside the frame, no NUL (the frame, cut at
         its first line break, holds none; here JSON whitespace may). */
      if (err < frame_copy || err + err_len > frame_copy + n || err_len < 2 || err[0] != '{' || err[err_len - 1] != '}' ||
          memchr(err, '\0', err_len)) {
        fprintf(stderr, "an error answer's object is not one object\n");
        return 1;
      }
    }
    free(frame_copy);
    memcpy(text, in, n);
    text[n] = '\0';
    if (valid_utf8(text, strlen(text))) { /* as parse_args checks the variable first */
      volatile const char *v = exec_version(text);
      (void)v;
    }
  }
  printf("fuzzed the answer parser: %llu inputs, %llu accepted, seed %s\n", runs, accepted, argv[2]);
  return 0;
}
