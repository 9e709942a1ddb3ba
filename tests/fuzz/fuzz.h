/*
 * fuzz.h — what every libFuzzer target in tests/fuzz/ shares (see
 * docs/fuzzing.md): an assertion that stays on in every build, a reader
 * that takes the fuzzer's bytes apart into choices and fields, and a copy
 * of the input into a buffer of exactly its size, so AddressSanitizer
 * reports the first byte read past it.
 */
#ifndef RTLAB_FUZZ_H
#define RTLAB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant broke: say which, then abort so libFuzzer keeps the input. */
#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* The fuzzer's input, consumed from the front. */
struct fuzz_in {
	const uint8_t *p;
	size_t len;
};

/* One byte (0 once the input is used up). */
static inline unsigned fuzz_byte(struct fuzz_in *in)
{
	if (in->len == 0)
		return 0;
	in->len--;
	return *in->p++;
}

/*
 * A field of the input: up to the next byte sep (which is skipped), or the
 * rest.  Points into the input; not NUL-terminated.
 */
static inline struct fuzz_in fuzz_field(struct fuzz_in *in, uint8_t sep)
{
	const uint8_t *end = memchr(in->p, sep, in->len);
	struct fuzz_in f = { in->p, end ? (size_t)(end - in->p) : in->len };

	in->p += f.len;
	in->len -= f.len;
	if (end) {
		in->p++;
		in->len--;
	}
	return f;
}

/* A malloc'd copy of exactly len bytes, plus a NUL after them if nul. */
static inline char *fuzz_copy(const void *p, size_t len, int nul)
{
	char *c = malloc(len + (nul ? 1 : 0) + (len == 0 && !nul));

	if (c == NULL)
		abort();
	if (len)
		memcpy(c, p, len);
	if (nul)
		c[len] = '\0';
	return c;
}

#endif
