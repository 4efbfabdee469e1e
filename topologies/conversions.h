/*
 * conversions.h — the conversions topology: completed screenings to
 * Meta's Conversions API.
 */
#ifndef SL_CONVERSIONS_H
#define SL_CONVERSIONS_H

#include "processor/sl.h"

/*
 * Build the topology: source user_journey, a step that validates each
 * event (bad ones are dead-lettered with "field: rule") and passes on
 * only screening_completed, and the Meta sink of connectors/meta.h
 * (dry without meta.token or meta.dataset_id).  SL_OK and *out (the
 * caller's until sl_app_new takes it), or an error with eb set.
 */
int conversions_topology(const sl_config *cfg, sl_topology **out,
			 sl_errbuf *eb);

#endif
