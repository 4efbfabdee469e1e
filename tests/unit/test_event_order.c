/*
 * test_event_order.c — ev_validate's verdict on events with many faults
 * at once, against the rules of SPEC section 2 applied one at a time.
 *
 * ev_validate looks at all members in one pass.  Whatever the order of
 * the members, the verdict must be the one a plain reading of the rules
 * gives: the first field (in the schema's order) that appears twice;
 * else the first field that is missing while the type needs it, or
 * whose value breaks its rule.  The expected verdict is worked out here
 * from that reading; whether one value breaks its field's rule is asked
 * of ev_validate with that value alone in an otherwise valid event (the
 * single-field rules are tested value by value in test_event.c).
 *
 * Events come from a fixed pseudo-random sequence: valid events of each
 * type with one to four changes (a member repeated, removed, replaced,
 * or an unknown one added), and members drawn at random.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "processor/err.h"
#include "topologies/event.h"

#define ROUNDS 20000

/* The schema's names in the order of SPEC section 2's table. */
static const char *const names[EV_NFIELDS] = {
	"event_id", "type",	    "user_id", "occurred_at", "phone",	 "lang",
	"pincode",  "screening_id", "score",   "step",	      "channel",
};

/* Names that are not in the schema, some close to its names. */
static const char *const others[] = { "x",	"Phone", "s", "st",
				      "sc",	"scor",	 "p", "steps",
				      "",	"types", "e", "channels",
				      "answers" };

/* Values, as JSON: good for some field, bad for others. */
static const char *const values[] = {
	"\"\"",
	"\"x\"",
	"null",
	"true",
	"3",
	"0",
	"6",
	"1.5",
	"[1]",
	"{}",
	"\"+919876543210\"",
	"\"+915876543210\"",
	"\"hi\"",
	"\"xx\"",
	"\"560001\"",
	"\"012345\"",
	"\"whatsapp\"",
	"\"sms\"",
	"\"2025-06-01T13:30:00Z\"",
	"\"2025-02-29T12:00:00Z\"",
	"\"screening_started\"",
	"\"screening_step\"",
	"\"screening_completed\"",
	"\"opted_out\"",
	"\"reminder_failed\"",
	"\"Opted_In\"",
	"2147483648",
	"\"u-\xc3\xa9\"",
};
#define NVALUES (sizeof(values) / sizeof(values[0]))

static uint64_t seed = 88172645463325252ULL;

static unsigned rnd(unsigned n)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (unsigned)(seed % n);
}

/* Does type t need field k?  SPEC section 2. */
static int required(int k, enum ev_type t)
{
	switch (k) {
	case EV_F_EVENT_ID:
	case EV_F_TYPE:
	case EV_F_USER_ID:
	case EV_F_OCCURRED_AT:
		return 1;
	case EV_F_PHONE:
	case EV_F_LANG:
	case EV_F_PINCODE:
		return t == EV_SCREENING_STARTED || t == EV_SCREENING_COMPLETED;
	case EV_F_SCREENING_ID:
	case EV_F_SCORE:
		return t == EV_SCREENING_COMPLETED;
	case EV_F_STEP:
		return t == EV_SCREENING_STEP;
	default:
		return 0;
	}
}

/* A valid screening_completed event that has every field. */
static cJSON *full_event(void)
{
	cJSON *o = cJSON_Parse(
		"{\"event_id\":\"e-1\",\"type\":\"screening_completed\","
		"\"user_id\":\"u-1\",\"occurred_at\":\"2025-06-01T13:30:00Z\","
		"\"phone\":\"+919876543210\",\"lang\":\"ta\","
		"\"pincode\":\"600001\",\"screening_id\":\"s-1\",\"score\":4,"
		"\"step\":3,\"channel\":\"qr\"}");

	assert_non_null(o);
	return o;
}

/* A valid event of type t with the fields it needs, in table order. */
static cJSON *valid_event(enum ev_type t)
{
	cJSON *o = full_event();

	cJSON_ReplaceItemInObjectCaseSensitive(
		o, "type", cJSON_CreateString(ev_type_name(t)));
	for (int k = 0; k < EV_NFIELDS; k++)
		if (!required(k, t) && rnd(2))
			cJSON_DeleteItemFromObjectCaseSensitive(o, names[k]);
	return o;
}

/* Field k's verdict on v alone, in full_event(): 1 when v obeys. */
static int value_ok(int k, const cJSON *v, ev_error *why)
{
	cJSON *o = full_event();
	int rc;

	cJSON_ReplaceItemInObjectCaseSensitive(o, names[k],
					       cJSON_Duplicate(v, 1));
	rc = ev_validate(o, why);
	cJSON_Delete(o);
	if (rc != SL_OK)
		assert_string_equal(why->field, names[k]);
	return rc == SL_OK;
}

static int count(const cJSON *o, const char *name)
{
	const cJSON *it;
	int n = 0;

	cJSON_ArrayForEach(it, o)
	{
		n += strcmp(it->string, name) == 0;
	}
	return n;
}

/* The verdict of the rules read one at a time. */
static int expected(const cJSON *o, ev_error *want)
{
	const cJSON *tv;
	enum ev_type t;

	memset(want, 0, sizeof(*want));
	for (int k = 0; k < EV_NFIELDS; k++) {
		if (count(o, names[k]) > 1) {
			snprintf(want->field, sizeof(want->field), "%s",
				 names[k]);
			snprintf(want->rule, sizeof(want->rule),
				 "must appear only once");
			return SL_EINVAL;
		}
	}
	tv = cJSON_GetObjectItemCaseSensitive(o, "type");
	t = cJSON_IsString(tv) ? ev_type_from_string(tv->valuestring)
			       : EV_UNKNOWN;
	for (int k = 0; k < EV_NFIELDS; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, names[k]);

		if (v == NULL && required(k, t)) {
			snprintf(want->field, sizeof(want->field), "%s",
				 names[k]);
			snprintf(want->rule, sizeof(want->rule), "is required");
			return SL_EINVAL;
		}
		if (v != NULL && !value_ok(k, v, want))
			return SL_EINVAL;
	}
	return SL_OK;
}

static const char *any_name(void)
{
	if (rnd(3) == 0)
		return others[rnd(sizeof(others) / sizeof(others[0]))];
	return names[rnd(EV_NFIELDS)];
}

static cJSON *any_value(void)
{
	cJSON *v = cJSON_Parse(values[rnd(NVALUES)]);

	assert_non_null(v);
	return v;
}

/*
 * Member `item` (named) put before member `at`, by taking the members
 * out and back in (cJSON 1.7.15's cJSON_InsertItemInArray refuses a
 * position inside an object: it returns false, item not inserted).
 */
static void insert_at(cJSON *o, int at, cJSON *item)
{
	cJSON *all[64];
	int n = 0;

	assert_non_null(item);
	while (o->child != NULL && n < 63) {
		if (n == at)
			all[n++] = item;
		all[n++] = cJSON_DetachItemViaPointer(o, o->child);
	}
	assert_null(o->child);
	if (at >= n)
		all[n++] = item;
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(o, all[i]); /* keeps the name */
}

/* One change to o: a member repeated, removed, replaced, or added. */
static void change(cJSON *o)
{
	int n = cJSON_GetArraySize(o);
	cJSON *it = n > 0 ? cJSON_GetArrayItem(o, (int)rnd((unsigned)n)) : NULL;
	cJSON *v;

	switch (it == NULL ? 3 : rnd(4)) {
	case 0: /* repeated (the copy keeps the name), anywhere */
		insert_at(o, (int)rnd((unsigned)n), cJSON_Duplicate(it, 1));
		break;
	case 1:
		cJSON_Delete(cJSON_DetachItemViaPointer(o, it));
		break;
	case 2:
		v = any_value();
		v->string = cJSON_malloc(strlen(it->string) + 1);
		assert_non_null(v->string);
		strcpy(v->string, it->string);
		cJSON_ReplaceItemViaPointer(o, it, v);
		break;
	default:
		cJSON_AddItemToObject(o, any_name(), any_value());
		break;
	}
}

/* Every member has a name (nameless ones are test_event.c's). */
static void assert_named(const cJSON *o)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, o)
	{
		assert_non_null(it->string);
	}
}

static cJSON *random_event(void)
{
	cJSON *o;

	if (rnd(4) == 0) {
		o = cJSON_CreateObject();
		for (unsigned i = rnd(12); i > 0; i--)
			cJSON_AddItemToObject(o, any_name(), any_value());
		return o;
	}
	o = valid_event((enum ev_type)(1 + rnd(EV_OPTED_IN)));
	for (unsigned i = 1 + rnd(4); i > 0; i--)
		change(o);
	assert_named(o);
	return o;
}

static void test_many_faults(void **state)
{
	int valid = 0, repeats = 0, missing = 0, broken = 0;

	(void)state;
	for (int r = 0; r < ROUNDS; r++) {
		cJSON *o = random_event();
		ev_error got, want;
		int rc = ev_validate(o, &got);

		if (rc != expected(o, &want) || strcmp(got.field, want.field) ||
		    strcmp(got.rule, want.rule)) {
			char *json = cJSON_PrintUnformatted(o);

			fail_msg("%s\n  got %s '%s' '%s'\n want '%s' '%s'",
				 json, sl_errname(rc), got.field, got.rule,
				 want.field, want.rule);
		}
		if (rc == SL_OK)
			valid++;
		else if (strcmp(got.rule, "must appear only once") == 0)
			repeats++;
		else if (strcmp(got.rule, "is required") == 0)
			missing++;
		else
			broken++;
		cJSON_Delete(o);
	}
	/* Every kind of verdict came up often enough to mean something. */
	printf("valid=%d repeated=%d missing=%d broken=%d\n", valid, repeats,
	       missing, broken);
	assert_true(valid > ROUNDS / 20);
	assert_true(repeats > ROUNDS / 20);
	assert_true(missing > ROUNDS / 20);
	assert_true(broken > ROUNDS / 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_faults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
