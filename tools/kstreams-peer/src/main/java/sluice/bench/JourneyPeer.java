/*
 * JourneyPeer — Sluice's journey topology (topologies/journey.c) written
 * as a Kafka Streams application, the peer of the benchmarks of SPEC
 * section 9.  Only scripts/bench.sh runs it.
 *
 * The same work per record as Sluice: parse the JSON event, validate the
 * fields of SPEC section 2 in the same order, keep one 56-byte entry per
 * user (the layout of journey_state_encode) in a persistent RocksDB
 * key-value store "journey" with a changelog, delete it on
 * screening_completed, and send an invalid record to the dead-letter
 * topic with the reason in the header "sluice.reason".
 *
 *   java -cp CLASSPATH sluice.bench.JourneyPeer --bootstrap HOST:PORT
 *        --app-id ID --input TOPIC --dlq TOPIC --state-dir DIR
 *        [--guarantee at_least_once|exactly_once_v2] [--commit-ms 1000]
 *        [--threads 1] [--cache-bytes 10485760] [--status-ms 500]
 *
 * Every --status-ms it prints one line on stdout:
 *   peer ms=EPOCH_MS state=STATE processed=N dead=D entries=E
 * (entries: users created minus users deleted since this process began,
 * exact for a fresh application id).  SIGTERM closes it cleanly.
 */
package sluice.bench;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

public final class JourneyPeer {
	static final String STORE = "journey";

	static final LongAdder PROCESSED = new LongAdder();
	static final LongAdder DEAD = new LongAdder();
	static final LongAdder ENTRIES = new LongAdder();

	private JourneyPeer() {
	}

	/* ---- the per-user entry (journey.h, 56 bytes, little-endian) ---- */

	static final int SIZE = 56;
	static final int VERSION = 1;
	static final int STARTED = 1, OPTED_OUT = 2, SUPPRESSED = 4;
	static final int NO_DAY = Integer.MIN_VALUE;

	static final class State {
		int flags, remindersSent, step, lastReminderDay = NO_DAY;
		long startedAt, lastActivity;
		byte[] lang = new byte[2], pincode = new byte[6],
			phone = new byte[16];

		byte[] encode() {
			ByteBuffer b = ByteBuffer.allocate(SIZE)
				.order(ByteOrder.LITTLE_ENDIAN);

			b.put((byte) VERSION).put((byte) flags)
				.put((byte) remindersSent).putInt(step)
				.putLong(startedAt).putLong(lastActivity)
				.putInt(lastReminderDay).put(lang).put(pincode)
				.put(phone);
			return b.array();
		}

		static State decode(byte[] v) {
			ByteBuffer b;
			State s = new State();

			if (v == null || v.length != SIZE || v[0] != VERSION)
				return null;
			b = ByteBuffer.wrap(v).order(ByteOrder.LITTLE_ENDIAN);
			b.position(1);
			s.flags = b.get() & 0xff;
			s.remindersSent = b.get() & 0xff;
			s.step = b.getInt();
			s.startedAt = b.getLong();
			s.lastActivity = b.getLong();
			s.lastReminderDay = b.getInt();
			b.get(s.lang).get(s.pincode).get(s.phone);
			return s;
		}

		void touch(long at) {
			if (at > lastActivity)
				lastActivity = at;
		}
	}

	/* Like snprintf into a fixed buffer: at most dst.length bytes. */
	static void copyField(byte[] dst, JsonNode v) {
		byte[] src;

		if (v == null || !v.isTextual())
			return;
		src = v.textValue().getBytes(StandardCharsets.UTF_8);
		java.util.Arrays.fill(dst, (byte) 0);
		System.arraycopy(src, 0, dst, 0, Math.min(src.length,
							  dst.length));
	}

	/* ---- validation (topologies/event.c, same order and rules) ---- */

	static final Set<String> TYPES = Set.of("screening_started",
		"screening_step", "screening_completed", "reminder_sent",
		"reminder_failed", "opted_out", "opted_in");
	static final Set<String> LANGS = Set.of("hi", "en", "bn", "te", "mr",
		"ta", "gu", "kn", "ml");
	static final Set<String> CHANNELS = Set.of("qr", "call", "whatsapp");

	static boolean validId(String s) {
		int n = s.codePointCount(0, s.length());

		return n >= 1 && n <= 64;
	}

	static boolean allDigits(String s, int from) {
		for (int i = from; i < s.length(); i++)
			if (s.charAt(i) < '0' || s.charAt(i) > '9')
				return false;
		return true;
	}

	static boolean validPhone(String s) {
		int n = s.length() - 1;

		if (n < 8 || n > 15 || s.charAt(0) != '+' ||
		    s.charAt(1) == '0' || !allDigits(s, 1))
			return false;
		if (s.startsWith("+91"))
			return n == 12 && s.charAt(3) >= '6' &&
				s.charAt(3) <= '9';
		return true;
	}

	static boolean validPincode(String s) {
		return s.length() == 6 && allDigits(s, 0) && s.charAt(0) != '0';
	}

	static long parseInstant(String s) {
		return OffsetDateTime.parse(s, DateTimeFormatter.ISO_OFFSET_DATE_TIME)
			.toInstant().toEpochMilli();
	}

	static boolean validInstant(String s) {
		try {
			parseInstant(s);
			return true;
		} catch (RuntimeException e) {
			return false;
		}
	}

	/* null when valid, else "field: rule". */
	static String checkString(JsonNode o, String name, boolean required,
				  java.util.function.Predicate<String> ok,
				  String rule) {
		JsonNode v = o.get(name);

		if (v == null)
			return required ? name + ": is required" : null;
		if (!v.isTextual())
			return name + ": must be a string";
		return ok.test(v.textValue()) ? null : name + ": " + rule;
	}

	static String checkInt(JsonNode o, String name, boolean required,
			       double lo, double hi, String rule) {
		JsonNode v = o.get(name);
		double d;

		if (v == null)
			return required ? name + ": is required" : null;
		if (!v.isNumber())
			return name + ": " + rule;
		d = v.doubleValue();
		if (!Double.isFinite(d) || d < lo || d > hi || Math.floor(d) != d)
			return name + ": " + rule;
		return null;
	}

	static String validate(JsonNode o) {
		JsonNode tv = o.get("type");
		String type = tv != null && tv.isTextual() ? tv.textValue() : "";
		boolean sc = type.equals("screening_started") ||
			     type.equals("screening_completed");
		boolean done = type.equals("screening_completed");
		String why;

		if ((why = checkString(o, "event_id", true, JourneyPeer::validId,
				       "must be 1-64 characters")) != null ||
		    (why = checkString(o, "type", true, TYPES::contains,
				       "must be one of the event types")) != null ||
		    (why = checkString(o, "user_id", true, JourneyPeer::validId,
				       "must be 1-64 characters")) != null ||
		    (why = checkString(o, "occurred_at", true,
				       JourneyPeer::validInstant,
				       "must be an RFC 3339 date-time with offset"))
			    != null ||
		    (why = checkString(o, "phone", sc, JourneyPeer::validPhone,
				       "must be E.164")) != null ||
		    (why = checkString(o, "lang", sc, LANGS::contains,
				       "must be one of hi en bn te mr ta gu kn ml"))
			    != null ||
		    (why = checkString(o, "pincode", sc,
				       JourneyPeer::validPincode,
				       "must be 6 digits, first not 0")) != null ||
		    (why = checkString(o, "screening_id", done,
				       JourneyPeer::validId,
				       "must be 1-64 characters")) != null ||
		    (why = checkInt(o, "score", done, 1, 5,
				    "must be an integer from 1 to 5")) != null ||
		    (why = checkInt(o, "step", type.equals("screening_step"), 1,
				    2147483647.0,
				    "must be an integer from 1 to 2147483647"))
			    != null ||
		    (why = checkString(o, "channel", false, CHANNELS::contains,
				       "must be qr, call or whatsapp")) != null)
			return why;
		return null;
	}

	/* ---- the processor ---------------------------------------------- */

	static final class Track implements Processor<String, byte[], String,
						      byte[]> {
		private final ObjectMapper json;
		private ProcessorContext<String, byte[]> ctx;
		private KeyValueStore<String, byte[]> store;

		Track(ObjectMapper json) {
			this.json = json;
		}

		@Override
		public void init(ProcessorContext<String, byte[]> context) {
			ctx = context;
			store = context.getStateStore(STORE);
		}

		private void deadLetter(Record<String, byte[]> rec, String why) {
			Record<String, byte[]> out = rec.withHeaders(
				new org.apache.kafka.common.header.internals
					.RecordHeaders(rec.headers().toArray()));

			out.headers().add("sluice.reason",
					  why.getBytes(StandardCharsets.UTF_8));
			DEAD.increment();
			ctx.forward(out, "dlq");
		}

		@Override
		public void process(Record<String, byte[]> rec) {
			JsonNode ev;
			String why;

			PROCESSED.increment();
			if (rec.value() == null || rec.value().length == 0) {
				deadLetter(rec, "must not be empty");
				return;
			}
			try {
				ev = json.readTree(rec.value());
			} catch (Exception e) {
				deadLetter(rec, "must be valid JSON");
				return;
			}
			if (ev == null || !ev.isObject()) {
				deadLetter(rec, "must be a JSON object");
				return;
			}
			why = validate(ev);
			if (why != null) {
				deadLetter(rec, why);
				return;
			}
			apply(ev);
		}

		private void save(String user, State s) {
			store.put(user, s.encode());
		}

		private void apply(JsonNode ev) {
			String user = ev.get("user_id").textValue();
			String type = ev.get("type").textValue();
			long at = parseInstant(ev.get("occurred_at").textValue());
			State s = State.decode(store.get(user));
			boolean exists = s != null;

			if (!exists)
				s = new State();
			switch (type) {
			case "screening_started":
				if ((s.flags & STARTED) == 0 || at < s.startedAt)
					s.startedAt = at;
				s.flags |= STARTED;
				copyField(s.phone, ev.get("phone"));
				copyField(s.lang, ev.get("lang"));
				copyField(s.pincode, ev.get("pincode"));
				s.touch(at);
				break;
			case "screening_step": {
				JsonNode step = ev.get("step");

				if (!exists)
					return;
				if (step.intValue() > s.step)
					s.step = step.intValue();
				s.touch(at);
				break;
			}
			case "screening_completed":
				if (exists) {
					store.delete(user);
					ENTRIES.decrement();
				}
				return;
			case "opted_out":
				s.flags |= OPTED_OUT;
				s.touch(at);
				break;
			case "opted_in":
				if (!exists)
					return;
				s.flags &= ~OPTED_OUT;
				break;
			case "reminder_failed": {
				JsonNode code = ev.get("error_code");

				if (!exists || code == null ||
				    !"131050".equals(code.asText()))
					return;
				s.flags |= SUPPRESSED;
				break;
			}
			default:
				return;
			}
			if (!exists)
				ENTRIES.increment();
			save(user, s);
		}
	}

	/* ---- running ---------------------------------------------------- */

	static Map<String, String> args(String[] argv) {
		Map<String, String> m = new HashMap<>();

		m.put("guarantee", "at_least_once");
		m.put("commit-ms", "1000");
		m.put("threads", "1");
		m.put("cache-bytes", String.valueOf(10L << 20));
		m.put("status-ms", "500");
		for (int i = 0; i + 1 < argv.length; i += 2) {
			if (!argv[i].startsWith("--"))
				throw new IllegalArgumentException(argv[i]);
			m.put(argv[i].substring(2), argv[i + 1]);
		}
		for (String k : new String[] { "bootstrap", "app-id", "input",
					       "dlq", "state-dir" })
			if (!m.containsKey(k))
				throw new IllegalArgumentException("--" + k +
								   " missing");
		return m;
	}

	static Topology topology(String input, String dlq) {
		ObjectMapper json = new ObjectMapper();
		Topology t = new Topology();

		json.enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
		json.enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
		t.addSource("src", Serdes.String().deserializer(),
			    Serdes.ByteArray().deserializer(), input);
		t.addProcessor("track", () -> new Track(json), "src");
		t.addStateStore(Stores.keyValueStoreBuilder(
				Stores.persistentKeyValueStore(STORE),
				Serdes.String(), Serdes.ByteArray())
				.withCachingEnabled(), "track");
		t.addSink("dlq", dlq, Serdes.String().serializer(),
			  Serdes.ByteArray().serializer(), "track");
		return t;
	}

	public static void main(String[] argv) throws Exception {
		Map<String, String> a = args(argv);
		Properties p = new Properties();
		CountDownLatch done = new CountDownLatch(1);
		long statusMs = Long.parseLong(a.get("status-ms"));
		KafkaStreams streams;
		Thread status;

		p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.get("app-id"));
		p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
		p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
		      a.get("guarantee"));
		p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, a.get("commit-ms"));
		p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, a.get("threads"));
		p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG,
		      a.get("cache-bytes"));
		p.put(StreamsConfig.STATE_DIR_CONFIG, a.get("state-dir"));
		p.put(StreamsConfig.consumerPrefix("auto.offset.reset"),
		      "earliest");

		streams = new KafkaStreams(topology(a.get("input"), a.get("dlq")),
					   p);
		streams.setUncaughtExceptionHandler(e -> {
			System.err.println("peer: stream thread failed: " + e);
			return StreamsUncaughtExceptionHandler
				.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
		});
		streams.setStateListener((now, old) -> {
			System.out.println("peer ms=" + System.currentTimeMillis() +
					   " transition=" + old + "->" + now);
			if (now == KafkaStreams.State.NOT_RUNNING ||
			    now == KafkaStreams.State.ERROR)
				done.countDown();
		});
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			streams.close(Duration.ofSeconds(60));
			done.countDown();
		}));

		status = new Thread(() -> {
			try {
				for (;;) {
					System.out.println("peer ms=" +
						System.currentTimeMillis() +
						" state=" + streams.state() +
						" processed=" + PROCESSED.sum() +
						" dead=" + DEAD.sum() +
						" entries=" + ENTRIES.sum());
					Thread.sleep(statusMs);
				}
			} catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}, "status");
		status.setDaemon(true);

		streams.start();
		status.start();
		done.await();
		System.out.println("peer ms=" + System.currentTimeMillis() +
				   " stopped processed=" + PROCESSED.sum() +
				   " dead=" + DEAD.sum() + " entries=" +
				   ENTRIES.sum());
	}
}
