/*
 * fuzz_utf8.c — libFuzzer target for lib/utf8.c (docs/fuzzing.md).
 *
 * The input is any bytes.  Checked on each:
 *  - utf8_valid() agrees with a reference decoder written here the long way
 *    (decode each code point, refuse overlongs, surrogates, > U+10FFFF:
 *    RFC 3629 §3), and utf8_count() with its count of code points;
 *  - validating in one piece equals validating in two at every split point
 *    (as a WebSocket text message arrives in fragments);
 *  - fed byte by byte, the validator rejects exactly at the first byte after
 *    which no continuation could make the text valid (fail fast, RFC 6455
 *    §8.1): the prefix before that byte can still be completed, the prefix
 *    with it cannot — "can be completed" tried by brute force;
 *  - once rejected, it stays rejected.
 */
#include "fuzz.h"
#include "utf8.h"

/* The reference: 1 if p[0..len) is valid UTF-8, counting code points. */
static int ref_valid(const uint8_t *p, size_t len, size_t *count)
{
	size_t n = 0;

	for (size_t i = 0; i < len; n++) {
		uint32_t cp, min;
		size_t more;
		uint8_t c = p[i++];

		if (c < 0x80) {
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			more = 1; cp = c & 0x1F; min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			more = 2; cp = c & 0x0F; min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			more = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return 0;
		}
		if (len - i < more)
			return 0;
		for (; more > 0; more--, i++) {
			if ((p[i] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
	}
	if (count)
		*count = n;
	return 1;
}

/*
 * 1 if some continuation makes p[0..len) valid.  Only up to three bytes can
 * be missing, and every range a continuation byte may have to fall in
 * (80-BF, A0-BF, 80-9F, 90-BF, 80-8F) holds one of these six.
 */
static int ref_completable(const uint8_t *p, size_t len)
{
	static const uint8_t cont[] = { 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF };
	uint8_t buf[16];
	size_t tail = len < 4 ? len : 4;   /* a sequence starts in the last 4 */

	if (ref_valid(p, len, NULL))
		return 1;
	/* The bytes before the last sequence must be valid on their own; find
	 * where that sequence starts and test completions of it alone. */
	for (size_t start = len - tail; start <= len; start++) {
		if (!ref_valid(p, start, NULL))
			continue;
		size_t t = len - start;
		memcpy(buf, p + start, t);
		for (int a = 0; a < 6; a++) {
			buf[t] = cont[a];
			if (ref_valid(buf, t + 1, NULL))
				return 1;
			for (int b = 0; b < 6; b++) {
				buf[t + 1] = cont[b];
				if (ref_valid(buf, t + 2, NULL))
					return 1;
				for (int c = 0; c < 6; c++) {
					buf[t + 2] = cont[c];
					if (ref_valid(buf, t + 3, NULL))
						return 1;
				}
			}
		}
	}
	return 0;
}

/* utf8_valid in two pieces split at k. */
static int valid_split(const uint8_t *p, size_t len, size_t k)
{
	struct utf8_state s;

	utf8_init(&s);
	utf8_feed(&s, p, k);
	utf8_feed(&s, p + k, len - k);
	return utf8_complete(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p;
	size_t count = 0, reject_at = size;
	struct utf8_state s;
	int whole, ref;

	if (size > 1024)
		return 0;
	p = fuzz_copy(data, size, 0);
	whole = utf8_valid(p, size);
	ref = ref_valid(data, size, &count);
	CHECK(whole == ref);
	if (whole)
		CHECK(utf8_count(p, size) == count);

	/* Every split point when short, 32 of them spread over a long input. */
	size_t step = size <= 256 ? 1 : size / 32;
	for (size_t k = 0; k <= size; k += step)
		CHECK(valid_split(data, size, k) == whole);

	utf8_init(&s);
	for (size_t i = 0; i < size; i++) {
		if (utf8_feed(&s, data + i, 1) == UTF8_REJECT) {
			reject_at = i;
			break;
		}
		CHECK(utf8_feed(&s, data + i, 0) == UTF8_ACCEPT);
	}
	if (reject_at < size) {
		CHECK(!whole);
		CHECK(ref_completable(data, reject_at));
		CHECK(!ref_completable(data, reject_at + 1));
		CHECK(utf8_feed(&s, (const uint8_t *)"a", 1) == UTF8_REJECT);
		CHECK(!utf8_complete(&s));
	} else {
		/* Never rejected: the text so far can still become valid. */
		CHECK(ref_completable(data, size));
		CHECK(utf8_complete(&s) == whole);
	}
	free(p);
	return 0;
}
