/*
 * journey.h — the journey topology and its per-user state.
 *
 * The store "journey" holds one entry per user with an incomplete
 * screening (key: user_id).  The reminders punctuator (reminders.c)
 * runs on the same tasks and reads and updates the same entries, so a
 * user's state and the record of their reminders move together.
 * Keys starting with a NUL byte are reserved for task metadata.
 */
#ifndef SL_JOURNEY_H
#define SL_JOURNEY_H

#include <stddef.h>
#include <stdint.h>

#include "processor/sl.h"

#define JOURNEY_STORE "journey"

enum {
	JS_STARTED = 1 << 0,
	JS_OPTED_OUT = 1 << 1,
	JS_SUPPRESSED = 1 << 2, /* WhatsApp 131050: stopped marketing */
};

#define JS_NO_DAY INT32_MIN

struct journey_state {
	uint8_t flags;
	uint8_t reminders_sent;
	int32_t step;
	int64_t started_at_ms;
	int64_t last_activity_ms;
	int32_t last_reminder_day; /* local days since epoch, or JS_NO_DAY */
	char lang[3];
	char pincode[7];
	char phone[17];
};

#define JOURNEY_STATE_SIZE 56

/* Fixed little-endian layout, version byte first. */
void journey_state_encode(const struct journey_state *s,
			  unsigned char out[JOURNEY_STATE_SIZE]);
/* SL_OK, or SL_EPARSE for a value of another size or version. */
int journey_state_decode(const void *buf, size_t len, struct journey_state *s);

/*
 * Build the journey topology: source user_journey, store "journey",
 * the tracking step, the reminders punctuator, sink send_reminder.
 */
int journey_topology(const sl_config *cfg, sl_topology **out, sl_errbuf *eb);

/* reminders.c: attach the reminder schedule to the journey topology. */
int reminders_attach(sl_topology *t, const sl_config *cfg, sl_errbuf *eb);

#endif
