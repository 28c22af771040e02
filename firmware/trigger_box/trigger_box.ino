/*
 * mespot trigger box firmware, protocol version 1 (docs/trigger-box-protocol.md).
 *
 * Emits TTL pulses at the camera frame rate on two pins driven by the 16-bit Timer1 hardware:
 *   OC1A -> XIMEA camera GPI trigger input (exposure starts on the rising edge)
 *   OC1B -> BIOPAC MP160 digital input (records every edge on the ECG clock)
 * Fast PWM mode 14 (TOP = ICR1) makes the pulses in hardware, free of interrupt jitter: the outputs
 * rise at BOTTOM (start of each period) and fall at the compare match (after the pulse width).
 * The Timer1 overflow interrupt (at TOP, as the counter wraps to the next rising edge) counts them.
 *
 * Host commands arrive as ASCII lines at 115200 baud 8N1; every non-empty line gets one reply line.
 * Boards: ATmega328P (Uno, Nano: D9/D10) or ATmega2560 (Mega: D11/D12), 16 MHz.
 */

#include <Arduino.h>
#include <ctype.h>
#include <string.h>
#include <util/atomic.h>

#if defined(__AVR_ATmega328P__)
const uint8_t PIN_CAMERA = 9;   // OC1A
const uint8_t PIN_MP160 = 10;   // OC1B
#elif defined(__AVR_ATmega2560__)
const uint8_t PIN_CAMERA = 11;  // OC1A
const uint8_t PIN_MP160 = 12;   // OC1B
#else
#error "trigger_box needs an ATmega328P (Uno, Nano) or an ATmega2560 (Mega): it uses Timer1's OC1A/OC1B pins"
#endif

#if F_CPU != 16000000UL
#error "trigger_box assumes a 16 MHz clock (prescaler ranges in the protocol document)"
#endif

// ---- protocol constants (keep in step with docs/trigger-box-protocol.md) ----
const char FIRMWARE_VERSION[] = "1.0.0";
const uint32_t BAUD_RATE = 115200;
const uint8_t MAX_LINE_LENGTH = 32;          // characters per command line, without the terminator

const uint32_t MICROS_PER_SECOND = 1000000UL;
const uint32_t MIN_RATE_HZ = 1;
const uint32_t MAX_RATE_HZ = 1000;
const uint32_t DEFAULT_RATE_HZ = 150;
const uint32_t MIN_LOW_TIME_US = 10;         // the output must be low at least this long per period
const uint32_t MIN_WIDTH_US = 10;
const uint32_t MAX_WIDTH_US = MICROS_PER_SECOND / MIN_RATE_HZ - MIN_LOW_TIME_US;
const uint32_t DEFAULT_WIDTH_US = 2000;      // >= 2 samples of the MP160's 1 kHz digital input

enum ErrorCode : uint8_t {
  ERR_UNKNOWN = 1,   // unknown command word
  ERR_SYNTAX = 2,    // missing, extra or non-numeric argument
  ERR_RANGE = 3,     // value outside its limits
  ERR_BUSY = 4,      // not allowed while running
  ERR_TOO_LONG = 5,  // command line longer than MAX_LINE_LENGTH
  ERR_NO_FIT = 6,    // width and rate do not fit together
};

// ---- Timer1 ----
const uint32_t TIMER_MAX_TICKS = 65536UL;    // ticks in one period at most (16-bit counter, TOP <= 65535)
const uint32_t CPU_CYCLES_PER_US = F_CPU / MICROS_PER_SECOND;
const uint16_t STOP_GUARD_TICKS = 16;        // STOP waits until the counter is this far from TOP

struct Prescaler {
  uint16_t divisor;
  uint8_t clockSelectBits;  // CS12:CS10 in TCCR1B
};

// Smallest divisor first: the finest tick that still fits one period into 16 bits.
const Prescaler PRESCALERS[] = {
  {8, _BV(CS11)},                 // 0.5 us tick: 31..1000 Hz
  {64, _BV(CS11) | _BV(CS10)},    // 4 us tick:   4..30 Hz
  {256, _BV(CS12)},               // 16 us tick:  1..3 Hz
};
const uint8_t PRESCALER_COUNT = sizeof(PRESCALERS) / sizeof(PRESCALERS[0]);

// ---- state ----
uint32_t rateHz = DEFAULT_RATE_HZ;
uint32_t widthUs = DEFAULT_WIDTH_US;
bool running = false;
volatile uint32_t pulseCount = 0;  // rising edges since START; written by the ISR

char lineBuffer[MAX_LINE_LENGTH + 1];
uint8_t lineLength = 0;
bool lineTooLong = false;

// ---- pulses ----

ISR(TIMER1_OVF_vect) {
  pulseCount++;  // counter reached TOP: the rising edge follows on the next timer tick
}

// 32-bit reads are not atomic on an 8-bit AVR: copy with interrupts off.
uint32_t readPulseCount() {
  uint32_t count;
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { count = pulseCount; }
  return count;
}

uint32_t periodTicks(uint32_t rate, const Prescaler &prescaler) {
  const uint32_t timerHz = F_CPU / prescaler.divisor;
  return (timerHz + rate / 2) / rate;  // rounded to the nearest tick
}

const Prescaler &prescalerFor(uint32_t rate) {
  for (uint8_t i = 0; i < PRESCALER_COUNT; i++) {
    if (periodTicks(rate, PRESCALERS[i]) <= TIMER_MAX_TICKS) return PRESCALERS[i];
  }
  return PRESCALERS[PRESCALER_COUNT - 1];  // unreachable for rates >= MIN_RATE_HZ
}

bool widthFitsRate(uint32_t width, uint32_t rate) {
  return width + MIN_LOW_TIME_US <= MICROS_PER_SECOND / rate;
}

void stopPulses() {
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
    if (running) {
      // The count is made at TOP, the edge at BOTTOM: never stop the clock between the two. The wait
      // is at most STOP_GUARD_TICKS (<= 256 us); the host sends nothing while awaiting this reply.
      while (TCNT1 >= ICR1 - STOP_GUARD_TICKS) {
      }
    }
    TCCR1B = 0;  // stop the timer clock: no further edges
    if (running && (TIFR1 & _BV(TOV1))) pulseCount++;  // this period's edge came, its ISR did not run
    TIFR1 = _BV(TOV1);
    TIMSK1 = 0;  // no further counts
  }
  // Force the OC1A/OC1B output latches low (cutting a pulse in progress short) so the next START
  // begins from low. FOC1x works only in a non-PWM mode: normal mode, "clear on compare match".
  TCCR1A = _BV(COM1A1) | _BV(COM1B1);
  TCCR1C = _BV(FOC1A) | _BV(FOC1B);
  TCCR1A = 0;  // disconnect the timer: the pins follow their PORT bits, which are low
  running = false;
  digitalWrite(LED_BUILTIN, LOW);
}

void startPulses() {
  const Prescaler &prescaler = prescalerFor(rateHz);
  const uint32_t period = periodTicks(rateHz, prescaler);
  uint32_t width = (widthUs * CPU_CYCLES_PER_US + prescaler.divisor / 2) / prescaler.divisor;
  if (width < 1) width = 1;
  if (width > period - 1) width = period - 1;  // keep at least one tick low

  // Timer stopped and in normal mode (WGM 0) here, so OCR1A/B are written directly rather than
  // into their PWM double buffers.
  TCCR1B = 0;
  TCCR1A = 0;
  ICR1 = period - 1;   // TOP: one period is TOP + 1 ticks
  OCR1A = width - 1;   // high for OCR1x + 1 ticks after BOTTOM
  OCR1B = width - 1;
  TCNT1 = period - 2;  // TOP - 1: count on the next tick, first rising edge on the one after
  TIFR1 = _BV(TOV1);   // clear a stale overflow flag (written as 1)
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { pulseCount = 0; }
  TIMSK1 = _BV(TOIE1);

  // Fast PWM mode 14 (WGM13:10 = 1110), non-inverting on OC1A and OC1B; the clock starts last.
  TCCR1A = _BV(COM1A1) | _BV(COM1B1) | _BV(WGM11);
  TCCR1B = _BV(WGM13) | _BV(WGM12) | prescaler.clockSelectBits;
  running = true;
  digitalWrite(LED_BUILTIN, HIGH);

  while (readPulseCount() == 0) {
    // at most 2 timer ticks (<= 32 us): the first edge precedes the OK START reply
  }
}

// ---- replies ----

// "ERR <code> <text> <detail>"; detail may be NULL.
void replyErrorDetail(ErrorCode code, const __FlashStringHelper *text, const char *detail) {
  Serial.print(F("ERR "));
  Serial.print(static_cast<uint8_t>(code));
  Serial.print(' ');
  Serial.print(text);
  if (detail != NULL) {
    Serial.print(' ');
    Serial.print(detail);
  }
  Serial.println();
}

void replyError(ErrorCode code, const __FlashStringHelper *text) {
  replyErrorDetail(code, text, NULL);
}

void replyOk(const __FlashStringHelper *word, uint32_t value) {
  Serial.print(F("OK "));
  Serial.print(word);
  Serial.print(' ');
  Serial.println(value);
}

// ---- parsing ----

// Unsigned decimal; saturates at UINT32_MAX (then out of any range). False if not all digits.
bool parseUnsigned(const char *text, uint32_t *value) {
  uint32_t result = 0;
  if (*text == '\0') return false;
  for (; *text != '\0'; text++) {
    if (!isdigit(static_cast<unsigned char>(*text))) return false;
    const uint8_t digit = *text - '0';
    result = (result > (UINT32_MAX - digit) / 10) ? UINT32_MAX : result * 10 + digit;
  }
  *value = result;
  return true;
}

bool expectNoArgument(uint8_t argumentCount) {
  if (argumentCount == 0) return true;
  replyError(ERR_SYNTAX, F("this command takes no argument"));
  return false;
}

bool expectOneNumber(uint8_t argumentCount, const char *argument, uint32_t *value) {
  if (argumentCount != 1) {
    replyError(ERR_SYNTAX, F("expected one argument"));
    return false;
  }
  if (!parseUnsigned(argument, value)) {
    replyErrorDetail(ERR_SYNTAX, F("not an unsigned integer:"), argument);
    return false;
  }
  return true;
}

// ---- commands ----

void commandRate(uint8_t argumentCount, const char *argument) {
  uint32_t value;
  if (!expectOneNumber(argumentCount, argument, &value)) return;
  if (running) return replyError(ERR_BUSY, F("busy: STOP first"));
  if (value < MIN_RATE_HZ || value > MAX_RATE_HZ) return replyError(ERR_RANGE, F("rate must be 1-1000 Hz"));
  if (!widthFitsRate(widthUs, value)) return replyError(ERR_NO_FIT, F("width does not fit that rate"));
  rateHz = value;
  replyOk(F("RATE"), rateHz);
}

void commandWidth(uint8_t argumentCount, const char *argument) {
  uint32_t value;
  if (!expectOneNumber(argumentCount, argument, &value)) return;
  if (running) return replyError(ERR_BUSY, F("busy: STOP first"));
  if (value < MIN_WIDTH_US || value > MAX_WIDTH_US) {
    return replyError(ERR_RANGE, F("width must be 10-999990 us"));
  }
  if (!widthFitsRate(value, rateHz)) return replyError(ERR_NO_FIT, F("width does not fit the rate"));
  widthUs = value;
  replyOk(F("WIDTH"), widthUs);
}

void commandStatus() {
  Serial.print(F("STATUS "));
  Serial.print(running ? 1 : 0);
  Serial.print(' ');
  Serial.print(rateHz);
  Serial.print(' ');
  Serial.print(widthUs);
  Serial.print(' ');
  Serial.println(readPulseCount());
}

void handleLine(char *text) {
  const char *word = NULL;
  const char *argument = NULL;
  uint8_t argumentCount = 0;
  for (char *token = strtok(text, " "); token != NULL; token = strtok(NULL, " ")) {
    if (word == NULL) {
      for (char *c = token; *c != '\0'; c++) *c = toupper(static_cast<unsigned char>(*c));
      word = token;
    } else {
      if (argumentCount == 0) argument = token;
      if (argumentCount < UINT8_MAX) argumentCount++;
    }
  }
  if (word == NULL) return;  // empty line: no reply

  if (strcmp(word, "HELLO") == 0) {
    if (!expectNoArgument(argumentCount)) return;
    Serial.print(F("OK MESPOT-TRIGGER "));
    Serial.println(FIRMWARE_VERSION);
  } else if (strcmp(word, "RATE") == 0) {
    commandRate(argumentCount, argument);
  } else if (strcmp(word, "WIDTH") == 0) {
    commandWidth(argumentCount, argument);
  } else if (strcmp(word, "START") == 0) {
    if (!expectNoArgument(argumentCount)) return;
    if (running) return replyError(ERR_BUSY, F("busy: already running"));
    startPulses();
    Serial.println(F("OK START"));
  } else if (strcmp(word, "STOP") == 0) {
    if (!expectNoArgument(argumentCount)) return;
    stopPulses();
    replyOk(F("STOP"), readPulseCount());
  } else if (strcmp(word, "STATUS") == 0) {
    if (!expectNoArgument(argumentCount)) return;
    commandStatus();
  } else if (strcmp(word, "COUNT") == 0) {
    if (!expectNoArgument(argumentCount)) return;
    Serial.print(F("COUNT "));
    Serial.println(readPulseCount());
  } else {
    replyErrorDetail(ERR_UNKNOWN, F("unknown command"), word);
  }
}

// ---- Arduino entry points ----

void setup() {
  pinMode(PIN_CAMERA, OUTPUT);
  pinMode(PIN_MP160, OUTPUT);
  pinMode(LED_BUILTIN, OUTPUT);
  digitalWrite(PIN_CAMERA, LOW);
  digitalWrite(PIN_MP160, LOW);
  stopPulses();
  Serial.begin(BAUD_RATE);
  Serial.print(F("READY MESPOT-TRIGGER "));
  Serial.println(FIRMWARE_VERSION);
}

void loop() {
  while (Serial.available() > 0) {
    const char c = static_cast<char>(Serial.read());
    if (c == '\r') continue;
    if (c == '\n') {
      lineBuffer[lineLength] = '\0';
      if (lineTooLong) {
        replyError(ERR_TOO_LONG, F("line too long"));
      } else {
        handleLine(lineBuffer);
      }
      lineLength = 0;
      lineTooLong = false;
    } else if (lineLength < MAX_LINE_LENGTH) {
      lineBuffer[lineLength++] = c;
    } else {
      lineTooLong = true;
    }
  }
}
