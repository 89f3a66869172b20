/* SPDX-License-Identifier: MIT */
/*
 * The ring's event-index notification protocol (include/pvio/ring_pvt.h),
 * both directions at once, for SPIN. See tests/model/README.md.
 *
 *   front: fills request slots, pvio_ring_front_push() (F1: req_prod
 *          store; req_event load; kick if the event index lies in
 *          (old, new]), consumes responses (rsp_prod acquire load), and
 *          before sleeping pvio_ring_front_final_check() (F4: rsp_event
 *          store, skipped when already armed at rsp_cons + 1; fenced
 *          rsp_prod load).
 *   back:  consumes requests, answers them in batches,
 *          pvio_ring_back_push() (F3), and before sleeping
 *          pvio_ring_back_final_check() (F2), skip-store included.
 *   event channels: a pending bit per direction; a notify sets it, a
 *          sleeper blocks until it is set and clears it. A bounded number
 *          of spurious wake-ups (timeouts) lets a side final-check twice
 *          at the same index, which is what exercises the skip-store path.
 *
 * Memory: every shared index store in the fenced protocol is seq_cst
 * (pvio_store_fenced) and so is every load that pairs with one
 * (pvio_load_fenced): those are modelled as plain atomic statements
 * (sequential consistency). With NOFENCE defined, the fenced pairs become
 * what is left without the fence, release stores and acquire loads: a
 * store may sit in its CPU's FIFO store buffer past the same CPU's later
 * loads (store->load reordering, allowed by C11 and by x86-TSO), drained
 * to memory by the `memory' process at any moment. A notify drains the
 * notifier's buffer first (it is a locked RMW / release, as in
 * pvio_evtchn_notify), and the woken side's loads come after its wait.
 *
 * Checked (see run_spin.sh): assertions and invalid end states (a side
 * blocked for ever while the other has finished or sleeps: a lost
 * wake-up, or a request/response published and never consumed), then
 * non-progress cycles under weak fairness (no livelock). The only valid
 * end state is the front done with every request answered and the back
 * asleep with nothing pending.
 *
 * Bounds (override with -D): N requests in all, SLOTS ring slots, SPUR
 * spurious wake-ups per side. Indices are bytes compared modulo 256 as
 * the C code compares uint32_t modulo 2^32.
 */
#ifndef N
#define N 4
#endif
#ifndef SLOTS
#define SLOTS 2
#endif
#ifndef SPUR
#define SPUR 1
#endif

#define REQ_PROD  0
#define REQ_EVENT 1
#define RSP_PROD  2
#define RSP_EVENT 3

#define FRONT 0
#define BACK  1

/* The shared ring header, as pvio_sring_init(0) leaves it. */
byte req_prod = 0, req_event = 1, rsp_prod = 0, rsp_event = 1;
chan sb[2] = [2] of { byte, byte }; /* store buffers (NOFENCE only) */
bool pending[2];              /* event channel: kick for FRONT / BACK */
bool front_done;

/* Xen's notify rule: kick if event lies in (old, new], modulo 256. */
#define NEED_KICK(old, new, ev) \
	((((new) - (ev) + 256) % 256) < (((new) - (old) + 256) % 256))

/* Write header field v in memory. */
inline MEMW(v, x)
{
	if
	:: v == REQ_PROD -> req_prod = x
	:: v == REQ_EVENT -> req_event = x
	:: v == RSP_PROD -> rsp_prod = x
	:: v == RSP_EVENT -> rsp_event = x
	fi
}

/* A shared-index store by CPU p. */
inline STORE(p, v, x)
{
#ifdef NOFENCE
	sb[p]!v,x
#else
	MEMW(v, x)
#endif
}

/* Kick the other side: the notify is a release, the buffer drains first. */
inline NOTIFY(p, to)
{
	atomic { empty(sb[p]) -> pending[to] = true }
}

/* Sleep until kicked, or (at most SPUR times) until a timeout. */
inline SLEEP(me, spur)
{
	if
	:: atomic { pending[me] -> pending[me] = false }
	:: spur < SPUR -> spur++
	fi
}

/* The CPUs' store buffers drain in order, whenever they like. */
active proctype memory()
{
	byte v, x;
end:
	do
	:: atomic { sb[FRONT]?v,x -> MEMW(v, x) }
	:: atomic { sb[BACK]?v,x -> MEMW(v, x) }
	od
}

active proctype front()
{
	byte req_prod_pvt = 0, req_prod_pub = 0;
	byte rsp_cons = 0, rsp_prod_seen = 0, rsp_event_set = 0;
	byte old, prod, ev, n, filled, got, spur = 0;

	do
	:: rsp_cons == N -> break
	:: else ->
		/* Fill slots: at least one while one is free, or none. */
		filled = 0;
		do
		:: req_prod_pvt < N && req_prod_pvt - rsp_cons < SLOTS ->
progress_fill:		req_prod_pvt++; filled++
		:: filled > 0 -> break
		:: !(req_prod_pvt < N && req_prod_pvt - rsp_cons < SLOTS) -> break
		od;
		/* pvio_ring_front_push: R1 + F1, then the req_event load. */
		if
		:: req_prod_pvt != req_prod_pub ->
			old = req_prod_pub;
			STORE(FRONT, REQ_PROD, req_prod_pvt);
			req_prod_pub = req_prod_pvt;
			ev = req_event;
			if
			:: NEED_KICK(old, req_prod_pub, ev) -> NOTIFY(FRONT, BACK)
			:: else -> skip
			fi
		:: else -> skip
		fi;
		/* Take responses: some or all (pvio_ring_front_get_rsp). */
		got = 0;
		do
		:: /* pvio_ring_front_unconsumed: A2 when all seen are taken */
			if
			:: rsp_prod_seen != rsp_cons -> skip
			:: else -> prod = rsp_prod; rsp_prod_seen = prod
			fi;
			n = rsp_prod_seen - rsp_cons;
			if
			:: n > 0 ->
progress_rsp:			assert(rsp_cons < req_prod_pub);
				rsp_cons++; got++
			:: else -> break
			fi
		:: got > 0 -> break
		od;
		if
		:: filled > 0 || got > 0 -> skip
		:: else ->
			/* Nothing to fill, nothing answered: wait for the
			 * backend (pvio_ring_front_final_check, then sleep). */
			assert(rsp_cons < req_prod_pub);
			if
			:: rsp_prod_seen != rsp_cons -> skip
			:: else ->
				if
				:: rsp_event_set != rsp_cons + 1 ->
					/* F4: pairs with F3 in back_push. */
					STORE(FRONT, RSP_EVENT, rsp_cons + 1);
					rsp_event_set = rsp_cons + 1
				:: else -> skip
				fi;
				prod = rsp_prod;
				rsp_prod_seen = prod;
				if
				:: prod != rsp_cons -> skip
				:: else -> SLEEP(FRONT, spur)
				fi
			fi
		fi
	od;
	/* No missed response: every request was answered, none twice. */
	assert(rsp_cons == N && req_prod_pub == N);
	front_done = true
}

active proctype back()
{
	byte req_cons = 0, req_prod_seen = 0, req_event_set = 0;
	byte rsp_prod_pvt = 0, rsp_prod_pub = 0;
	byte old, prod, ev, n, got, answered, spur = 0;

	do
	:: /* consume(): take published requests, some or all. */
		got = 0;
		do
		:: if
			:: req_prod_seen != req_cons -> skip
			:: else -> prod = req_prod; req_prod_seen = prod
			fi;
			n = req_prod_seen - req_cons;
			if
			:: n > 0 ->
progress_req:			req_cons++; got++;
				assert(req_cons - rsp_prod_pvt <= SLOTS)
			:: else -> break
			fi
		:: got > 0 -> break
		od;
		/* Answer some of what is in flight (the engine completes
		 * I/O in its own time); with nothing new, reap at least one. */
		answered = 0;
		do
		:: rsp_prod_pvt != req_cons ->
progress_ans:		rsp_prod_pvt++; answered++
		:: got > 0 || answered > 0 -> break
		:: rsp_prod_pvt == req_cons -> break
		od;
		/* pvio_ring_back_push: R2 + F3, then the rsp_event load. */
		if
		:: rsp_prod_pvt != rsp_prod_pub ->
			old = rsp_prod_pub;
			STORE(BACK, RSP_PROD, rsp_prod_pvt);
			rsp_prod_pub = rsp_prod_pvt;
			ev = rsp_event;
			if
			:: NEED_KICK(old, rsp_prod_pub, ev) -> NOTIFY(BACK, FRONT)
			:: else -> skip
			fi
		:: else -> skip
		fi;
		if
		:: got > 0 || answered > 0 -> skip
		:: else ->
			/* Idle: pvio_ring_back_final_check, then wait_event. */
			if
			:: req_prod_seen != req_cons -> skip
			:: else ->
				if
				:: req_event_set != req_cons + 1 ->
					/* F2: pairs with F1 in front_push. */
					STORE(BACK, REQ_EVENT, req_cons + 1);
					req_event_set = req_cons + 1
				:: else -> skip
				fi;
				prod = req_prod;
				req_prod_seen = prod;
				if
				:: prod != req_cons -> skip
				:: else ->
end_idle:				SLEEP(BACK, spur)
				fi
			fi
		fi
	od
}
