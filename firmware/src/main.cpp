// SPDX-License-Identifier: Apache-2.0
//
// smartpark firmware for the AI-Thinker ESP32-CAM (OV2640), arduino-esp32 2.x.
//
// Both ways of getting frames to smartpark run at the same time:
//   pull  http://<board>:81/stream  MJPEG in the CameraWebServer dialect
//         http://<board>/capture    one JPEG
//         http://<board>/status     JSON: uptime, rssi, free heap, frames, push state
//   push  every PUSH_INTERVAL_MS one JPEG is POSTed to
//         SMARTPARK_URL "/api/cameras/" CAMERA_ID "/frames"
//         with "Content-Type: image/jpeg" and "Authorization: Bearer " DEVICE_TOKEN;
//         after a failure the wait doubles, up to PUSH_MAX_BACKOFF_MS.

#include <Arduino.h>
#include <HTTPClient.h>
#include <WiFi.h>
#include <WiFiClientSecure.h>

#include <atomic>

#include "esp_camera.h"
#include "esp_http_server.h"
#include "esp_task_wdt.h"
#include "esp_timer.h"

#if __has_include("config.h")
#include "config.h"
#else
#error "include/config.h is missing: copy include/config.example.h to include/config.h and fill it in"
#endif
#include "camera_pins.h"

// ---------------------------------------------------------------------------
// Settings that config.h may override
// ---------------------------------------------------------------------------
#ifndef PUSH_INTERVAL_MS
#define PUSH_INTERVAL_MS 5000
#endif
#ifndef FRAME_SIZE
#define FRAME_SIZE FRAMESIZE_SVGA
#endif
#ifndef JPEG_QUALITY
#define JPEG_QUALITY 12
#endif
#ifndef CAMERA_VFLIP
#define CAMERA_VFLIP 0
#endif
#ifndef CAMERA_HMIRROR
#define CAMERA_HMIRROR 0
#endif
#ifndef PUSH_MAX_BACKOFF_MS
#define PUSH_MAX_BACKOFF_MS 60000
#endif
#ifndef HTTP_CONNECT_TIMEOUT_MS
#define HTTP_CONNECT_TIMEOUT_MS 5000
#endif
#ifndef HTTP_TIMEOUT_MS
#define HTTP_TIMEOUT_MS 10000
#endif
#ifndef WIFI_RETRY_INTERVAL_MS
#define WIFI_RETRY_INTERVAL_MS 10000
#endif
#ifndef WIFI_REBOOT_AFTER_MS
#define WIFI_REBOOT_AFTER_MS 300000
#endif
#ifndef CAMERA_INIT_REBOOT_DELAY_MS
#define CAMERA_INIT_REBOOT_DELAY_MS 10000
#endif
#ifndef CAPTURE_FAILURES_BEFORE_REBOOT
#define CAPTURE_FAILURES_BEFORE_REBOOT 10
#endif
#ifndef WDT_TIMEOUT_S
#define WDT_TIMEOUT_S 60
#endif

static_assert(HTTP_TIMEOUT_MS <= 65535, "HTTPClient::setTimeout takes a uint16_t");
// One push (connect + send + response) must finish well inside the loop watchdog.
static_assert(WDT_TIMEOUT_S * 1000UL > HTTP_CONNECT_TIMEOUT_MS + 3UL * HTTP_TIMEOUT_MS,
              "WDT_TIMEOUT_S is too short for the HTTP timeouts");

#define FIRMWARE_VERSION "0.1.0"

#define LOG(fmt, ...) Serial.printf("[%10lu] " fmt "\n", (unsigned long)millis(), ##__VA_ARGS__)

// ---------------------------------------------------------------------------
// MJPEG dialect of the arduino-esp32 CameraWebServer example
// ---------------------------------------------------------------------------
#define PART_BOUNDARY "123456789000000000000987654321"
static const char STREAM_CONTENT_TYPE[] = "multipart/x-mixed-replace;boundary=" PART_BOUNDARY;
static const char STREAM_BOUNDARY[] = "\r\n--" PART_BOUNDARY "\r\n";
#define STREAM_PART "Content-Type: image/jpeg\r\nContent-Length: %u\r\nX-Timestamp: %d.%06d\r\n\r\n"

// ---------------------------------------------------------------------------
// State. Counters are read by the HTTP server tasks, hence atomics.
// ---------------------------------------------------------------------------
static bool g_psram = false;
static std::atomic<uint32_t> g_frames{0};              // frames taken from the camera
static std::atomic<uint32_t> g_captureFailures{0};     // all failed captures
static std::atomic<uint32_t> g_captureFailStreak{0};   // failed captures in a row
static std::atomic<int> g_streamClients{0};

static bool g_pushEnabled = false;
static bool g_pushHttps = false;
static String g_pushUrl;
static String g_authHeader;
static uint32_t g_nextPushAt = 0;
static uint8_t* g_pushBuf = nullptr;
static size_t g_pushBufCap = 0;
static std::atomic<uint32_t> g_pushOk{0};
static std::atomic<uint32_t> g_pushFailed{0};
static std::atomic<uint32_t> g_pushFailStreak{0};
static std::atomic<int> g_lastPushStatus{0};           // HTTP status, or an HTTPC_ERROR_* (< 0)

static bool g_wifiUp = false;
static uint32_t g_wifiDownSince = 0;
static uint32_t g_lastWifiRetry = 0;

static httpd_handle_t g_httpd = nullptr;        // port 80: /capture, /status
static httpd_handle_t g_streamHttpd = nullptr;  // port 81: /stream

// ---------------------------------------------------------------------------
// Camera
// ---------------------------------------------------------------------------
[[noreturn]] static void rebootAfter(uint32_t ms, const char* why) {
  LOG("%s: rebooting in %lu ms", why, (unsigned long)ms);
  Serial.flush();
  delay(ms);
  ESP.restart();
  for (;;) {
  }
}

static void initCamera() {
  camera_config_t c = {};
  c.ledc_channel = LEDC_CHANNEL_0;
  c.ledc_timer = LEDC_TIMER_0;
  c.pin_d0 = Y2_GPIO_NUM;
  c.pin_d1 = Y3_GPIO_NUM;
  c.pin_d2 = Y4_GPIO_NUM;
  c.pin_d3 = Y5_GPIO_NUM;
  c.pin_d4 = Y6_GPIO_NUM;
  c.pin_d5 = Y7_GPIO_NUM;
  c.pin_d6 = Y8_GPIO_NUM;
  c.pin_d7 = Y9_GPIO_NUM;
  c.pin_xclk = XCLK_GPIO_NUM;
  c.pin_pclk = PCLK_GPIO_NUM;
  c.pin_vsync = VSYNC_GPIO_NUM;
  c.pin_href = HREF_GPIO_NUM;
  c.pin_sccb_sda = SIOD_GPIO_NUM;
  c.pin_sccb_scl = SIOC_GPIO_NUM;
  c.pin_pwdn = PWDN_GPIO_NUM;
  c.pin_reset = RESET_GPIO_NUM;
  c.xclk_freq_hz = 20000000;
  c.pixel_format = PIXFORMAT_JPEG;
  c.frame_size = FRAME_SIZE;
  c.jpeg_quality = JPEG_QUALITY;

  if (g_psram) {
    // Two buffers in PSRAM: the sensor fills one while a consumer holds the
    // other, and every grab returns the newest complete frame.
    c.fb_location = CAMERA_FB_IN_PSRAM;
    c.fb_count = 2;
    c.grab_mode = CAMERA_GRAB_LATEST;
  } else {
    // Internal RAM is small: one buffer, and no more than SVGA.
    c.fb_location = CAMERA_FB_IN_DRAM;
    c.fb_count = 1;
    c.grab_mode = CAMERA_GRAB_WHEN_EMPTY;
    if (c.frame_size > FRAMESIZE_SVGA) {
      c.frame_size = FRAMESIZE_SVGA;
    }
  }

  const esp_err_t err = esp_camera_init(&c);
  if (err != ESP_OK) {
    LOG("camera: init failed with error 0x%x (0x105 or 0x20001: sensor not found, check the ribbon cable)",
        (unsigned)err);
    rebootAfter(CAMERA_INIT_REBOOT_DELAY_MS, "camera");
  }

  sensor_t* s = esp_camera_sensor_get();
  if (s != nullptr) {
    s->set_vflip(s, CAMERA_VFLIP ? 1 : 0);
    s->set_hmirror(s, CAMERA_HMIRROR ? 1 : 0);
  }
  LOG("camera: ready, PSRAM %s, %d frame buffer(s), frame size %d, quality %d", g_psram ? "yes" : "no",
      (int)c.fb_count, (int)c.frame_size, (int)c.jpeg_quality);
}

// A JPEG frame from the camera, or nullptr. The caller returns it with esp_camera_fb_return().
static camera_fb_t* grabFrame() {
  camera_fb_t* fb = esp_camera_fb_get();
  if (fb != nullptr && fb->format != PIXFORMAT_JPEG) {
    esp_camera_fb_return(fb);
    fb = nullptr;
  }
  if (fb == nullptr) {
    g_captureFailures++;
    const uint32_t streak = ++g_captureFailStreak;
    LOG("camera: capture failed (%lu in a row)", (unsigned long)streak);
    return nullptr;
  }
  g_captureFailStreak = 0;
  g_frames++;
  return fb;
}

// Like grabFrame(), but never a frame that waited in the buffer. Without PSRAM
// the single buffer keeps whatever was captured when it was last returned,
// which may be seconds old, so that one is dropped first.
static camera_fb_t* grabFreshFrame() {
  if (!g_psram) {
    camera_fb_t* stale = esp_camera_fb_get();
    if (stale != nullptr) {
      esp_camera_fb_return(stale);
    }
  }
  return grabFrame();
}

// ---------------------------------------------------------------------------
// HTTP server (esp_http_server)
// ---------------------------------------------------------------------------
// GET /stream on port 81. esp_http_server runs one task per server, so this
// loop occupies port 81 for as long as its client stays: one viewer at a time.
static esp_err_t streamHandler(httpd_req_t* req) {
  esp_err_t res = httpd_resp_set_type(req, STREAM_CONTENT_TYPE);
  if (res != ESP_OK) {
    return res;
  }
  httpd_resp_set_hdr(req, "Access-Control-Allow-Origin", "*");
  httpd_resp_set_hdr(req, "X-Framerate", "60");

  const int clients = ++g_streamClients;
  LOG("stream: client connected (%d)", clients);
  char part[128];
  uint32_t sent = 0;
  while (true) {
    camera_fb_t* fb = grabFrame();
    if (fb == nullptr) {
      res = ESP_FAIL;
      break;
    }
    res = httpd_resp_send_chunk(req, STREAM_BOUNDARY, strlen(STREAM_BOUNDARY));
    if (res == ESP_OK) {
      const int n = snprintf(part, sizeof(part), STREAM_PART, (unsigned)fb->len, (int)fb->timestamp.tv_sec,
                             (int)fb->timestamp.tv_usec);
      res = httpd_resp_send_chunk(req, part, n);
    }
    if (res == ESP_OK) {
      res = httpd_resp_send_chunk(req, (const char*)fb->buf, fb->len);
    }
    esp_camera_fb_return(fb);
    if (res != ESP_OK) {
      break;
    }
    sent++;
  }
  g_streamClients--;
  LOG("stream: client gone after %lu frames", (unsigned long)sent);
  return res;
}

// GET /capture on port 80: one JPEG.
static esp_err_t captureHandler(httpd_req_t* req) {
  camera_fb_t* fb = grabFreshFrame();
  if (fb == nullptr) {
    httpd_resp_send_500(req);
    return ESP_FAIL;
  }
  httpd_resp_set_type(req, "image/jpeg");
  httpd_resp_set_hdr(req, "Content-Disposition", "inline; filename=capture.jpg");
  httpd_resp_set_hdr(req, "Access-Control-Allow-Origin", "*");
  httpd_resp_set_hdr(req, "Cache-Control", "no-store");
  char ts[32];  // must outlive httpd_resp_send: set_hdr keeps the pointer
  snprintf(ts, sizeof(ts), "%d.%06d", (int)fb->timestamp.tv_sec, (int)fb->timestamp.tv_usec);
  httpd_resp_set_hdr(req, "X-Timestamp", ts);
  const esp_err_t res = httpd_resp_send(req, (const char*)fb->buf, fb->len);
  esp_camera_fb_return(fb);
  return res;
}

// GET /status on port 80: JSON health.
static esp_err_t statusHandler(httpd_req_t* req) {
  const bool wifiUp = WiFi.status() == WL_CONNECTED;
  const String ip = WiFi.localIP().toString();
  char body[768];
  const int n = snprintf(
      body, sizeof(body),
      "{\"camera_id\":\"%s\",\"firmware\":\"%s\",\"uptime_s\":%lu,"
      "\"wifi_connected\":%s,\"rssi\":%d,\"ip\":\"%s\","
      "\"free_heap\":%lu,\"min_free_heap\":%lu,\"psram\":%s,\"free_psram\":%lu,"
      "\"frames\":%lu,\"capture_failures\":%lu,\"stream_clients\":%d,"
      "\"push\":{\"enabled\":%s,\"ok\":%lu,\"failed\":%lu,\"consecutive_failures\":%lu,\"last_status\":%d}}",
      CAMERA_ID, FIRMWARE_VERSION, (unsigned long)(esp_timer_get_time() / 1000000LL), wifiUp ? "true" : "false",
      wifiUp ? (int)WiFi.RSSI() : 0, ip.c_str(), (unsigned long)ESP.getFreeHeap(),
      (unsigned long)ESP.getMinFreeHeap(), g_psram ? "true" : "false",
      (unsigned long)(g_psram ? ESP.getFreePsram() : 0), (unsigned long)g_frames.load(),
      (unsigned long)g_captureFailures.load(), g_streamClients.load(), g_pushEnabled ? "true" : "false",
      (unsigned long)g_pushOk.load(), (unsigned long)g_pushFailed.load(), (unsigned long)g_pushFailStreak.load(),
      g_lastPushStatus.load());
  if (n < 0 || n >= (int)sizeof(body)) {
    httpd_resp_send_500(req);
    return ESP_FAIL;
  }
  httpd_resp_set_type(req, "application/json");
  httpd_resp_set_hdr(req, "Access-Control-Allow-Origin", "*");
  httpd_resp_set_hdr(req, "Cache-Control", "no-store");
  return httpd_resp_send(req, body, n);
}

static void registerGet(httpd_handle_t server, const char* uri, esp_err_t (*handler)(httpd_req_t*)) {
  httpd_uri_t u = {};
  u.uri = uri;
  u.method = HTTP_GET;
  u.handler = handler;
  u.user_ctx = nullptr;
  if (httpd_register_uri_handler(server, &u) != ESP_OK) {
    LOG("http: could not register %s", uri);
  }
}

static void startHttpServers() {
  httpd_config_t cfg = HTTPD_DEFAULT_CONFIG();
  cfg.server_port = 80;
  cfg.ctrl_port = 32768;
  cfg.max_uri_handlers = 4;
  cfg.max_open_sockets = 4;  // leaves lwIP sockets for the stream server and the push client
  cfg.stack_size = 6144;
  cfg.lru_purge_enable = true;
  if (httpd_start(&g_httpd, &cfg) != ESP_OK) {
    rebootAfter(5000, "http: cannot start the server on port 80");
  }
  registerGet(g_httpd, "/capture", captureHandler);
  registerGet(g_httpd, "/status", statusHandler);

  httpd_config_t scfg = HTTPD_DEFAULT_CONFIG();
  scfg.server_port = 81;
  scfg.ctrl_port = 32769;  // each server needs its own control port
  scfg.max_uri_handlers = 2;
  scfg.max_open_sockets = 2;  // the viewer, and the next one waiting for it to leave
  scfg.stack_size = 6144;
  if (httpd_start(&g_streamHttpd, &scfg) != ESP_OK) {
    rebootAfter(5000, "http: cannot start the server on port 81");
  }
  registerGet(g_streamHttpd, "/stream", streamHandler);
}

// ---------------------------------------------------------------------------
// Push
// ---------------------------------------------------------------------------
static void configurePush() {
  String base = SMARTPARK_URL;
  while (base.endsWith("/")) {
    base.remove(base.length() - 1);
  }
  if (PUSH_INTERVAL_MS == 0 || base.length() == 0) {
    LOG("push: off (PUSH_INTERVAL_MS is 0 or SMARTPARK_URL is empty)");
    return;
  }
  g_pushHttps = base.startsWith("https://");
  if (!g_pushHttps && !base.startsWith("http://")) {
    LOG("push: off: SMARTPARK_URL must start with http:// or https://");
    return;
  }
#ifndef SMARTPARK_CA_CERT
  if (g_pushHttps) {
    LOG("push: off: SMARTPARK_URL is https:// but SMARTPARK_CA_CERT is not set");
    return;
  }
#endif
  g_pushUrl = base + "/api/cameras/" + CAMERA_ID + "/frames";
  g_authHeader = String("Bearer ") + DEVICE_TOKEN;
  g_pushEnabled = true;
  LOG("push: every %lu ms to %s", (unsigned long)PUSH_INTERVAL_MS, g_pushUrl.c_str());
}

// A buffer of our own for the pushed JPEG, so the camera's frame buffer goes
// back to the driver before the network part, which may take seconds.
static bool ensurePushBuffer(size_t len) {
  if (len <= g_pushBufCap) {
    return true;
  }
  free(g_pushBuf);
  g_pushBufCap = 0;
  const size_t want = len + len / 4;  // headroom: JPEG sizes vary from frame to frame
  g_pushBuf = static_cast<uint8_t*>(g_psram ? ps_malloc(want) : malloc(want));
  if (g_pushBuf == nullptr) {
    return false;
  }
  g_pushBufCap = want;
  return true;
}

// POSTs one JPEG; returns the HTTP status, or an HTTPC_ERROR_* (< 0).
static int postJpeg(uint8_t* data, size_t len) {
  WiFiClient plain;
#ifdef SMARTPARK_CA_CERT
  WiFiClientSecure secure;
  secure.setCACert(SMARTPARK_CA_CERT);
  WiFiClient& client = g_pushHttps ? static_cast<WiFiClient&>(secure) : plain;
#else
  WiFiClient& client = plain;
#endif
  HTTPClient http;  // declared after the clients, so destroyed before them
  http.setReuse(false);
  http.setConnectTimeout(HTTP_CONNECT_TIMEOUT_MS);
  http.setTimeout(HTTP_TIMEOUT_MS);
  http.setUserAgent("smartpark-esp32cam/" FIRMWARE_VERSION);
  if (!http.begin(client, g_pushUrl)) {
    LOG("push: cannot parse URL %s", g_pushUrl.c_str());
    return HTTPC_ERROR_CONNECTION_REFUSED;
  }
  http.addHeader("Content-Type", "image/jpeg");
  http.addHeader("Authorization", g_authHeader);

  const int status = http.POST(data, len);
  if (status < 0) {
    LOG("push: POST %s failed: %s", g_pushUrl.c_str(), HTTPClient::errorToString(status).c_str());
  } else if (status < 200 || status > 299) {
    String body = http.getString();
    if (body.length() > 200) {
      body = body.substring(0, 200);
    }
    LOG("push: POST %s answered HTTP %d: %s", g_pushUrl.c_str(), status, body.c_str());
  }
  http.end();
  return status;
}

static bool pushFrame() {
  camera_fb_t* fb = grabFreshFrame();
  if (fb == nullptr) {
    g_pushFailed++;
    return false;
  }
  uint8_t* data = fb->buf;
  const size_t len = fb->len;
  if (ensurePushBuffer(len)) {
    memcpy(g_pushBuf, fb->buf, len);
    data = g_pushBuf;
    esp_camera_fb_return(fb);
    fb = nullptr;
  }
  // Without memory for a copy, the frame buffer is held for the duration of the POST.
  const int status = postJpeg(data, len);
  if (fb != nullptr) {
    esp_camera_fb_return(fb);
  }
  g_lastPushStatus = status;
  const bool ok = status >= 200 && status <= 299;
  if (ok) {
    g_pushOk++;
  } else {
    g_pushFailed++;
  }
  return ok;
}

static void scheduleNextPush(bool ok) {
  uint32_t wait = PUSH_INTERVAL_MS;
  if (ok) {
    const uint32_t streak = g_pushFailStreak.exchange(0);
    if (streak > 0) {
      LOG("push: working again after %lu failures", (unsigned long)streak);
    }
  } else {
    const uint32_t streak = ++g_pushFailStreak;
    uint64_t backoff = (uint64_t)PUSH_INTERVAL_MS << (streak < 16 ? streak : 16);
    if (backoff > (uint64_t)PUSH_MAX_BACKOFF_MS) {
      backoff = (uint64_t)PUSH_MAX_BACKOFF_MS;
    }
    if (backoff > wait) {
      wait = (uint32_t)backoff;
    }
    LOG("push: %lu failure(s) in a row, next attempt in %lu ms", (unsigned long)streak, (unsigned long)wait);
  }
  g_nextPushAt = millis() + wait;
}

// ---------------------------------------------------------------------------
// Wi-Fi
// ---------------------------------------------------------------------------
static void buildHostname(char* out, size_t size) {
  String name = String("smartpark-cam-") + CAMERA_ID;
  size_t j = 0;
  for (size_t i = 0; i < name.length() && j + 1 < size; i++) {
    const char ch = name[i];
    out[j++] = isalnum((unsigned char)ch) ? (char)tolower((unsigned char)ch) : '-';
  }
  out[j] = '\0';
}

static void maintainWifi() {
  const uint32_t now = millis();
  if (WiFi.status() == WL_CONNECTED) {
    if (!g_wifiUp) {
      g_wifiUp = true;
      const String ip = WiFi.localIP().toString();
      LOG("wifi: connected to %s, ip %s, rssi %d dBm", WIFI_SSID, ip.c_str(), (int)WiFi.RSSI());
      LOG("http: stream http://%s:81/stream  capture http://%s/capture  status http://%s/status", ip.c_str(),
          ip.c_str(), ip.c_str());
    }
    return;
  }
  if (g_wifiUp) {
    g_wifiUp = false;
    g_wifiDownSince = now;
    g_lastWifiRetry = now;
    LOG("wifi: connection lost");
  }
  if (now - g_wifiDownSince >= WIFI_REBOOT_AFTER_MS) {
    rebootAfter(100, "wifi: down for too long");
  }
  if (now - g_lastWifiRetry >= WIFI_RETRY_INTERVAL_MS) {
    g_lastWifiRetry = now;
    LOG("wifi: reconnecting to %s", WIFI_SSID);
    WiFi.reconnect();
  }
}

// ---------------------------------------------------------------------------
// Arduino entry points
// ---------------------------------------------------------------------------
void setup() {
  Serial.begin(115200);
  Serial.println();
  LOG("smartpark esp32cam firmware %s, camera %s", FIRMWARE_VERSION, CAMERA_ID);

  pinMode(LED_GPIO_NUM, OUTPUT);  // keep the flash LED off
  digitalWrite(LED_GPIO_NUM, LOW);

  g_psram = psramFound();
  initCamera();

  char hostname[32];
  buildHostname(hostname, sizeof(hostname));
  WiFi.persistent(false);        // do not write the credentials to flash on every boot
  WiFi.setHostname(hostname);    // before WiFi.mode(), or arduino-esp32 2.x ignores it
  WiFi.mode(WIFI_STA);
  WiFi.setSleep(false);          // modem sleep makes streaming stutter
  WiFi.setAutoReconnect(true);
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  LOG("wifi: connecting to %s as %s", WIFI_SSID, hostname);
  g_wifiDownSince = millis();
  g_lastWifiRetry = g_wifiDownSince;
  while (WiFi.status() != WL_CONNECTED && millis() - g_wifiDownSince < 20000) {
    delay(250);
  }
  maintainWifi();

  startHttpServers();  // they serve as soon as (and whenever) Wi-Fi is up
  configurePush();
  g_nextPushAt = millis();

  // Watch loop(): a hang anywhere in it (e.g. a network call that never
  // returns) reboots the board. The timeout covers the longest push.
  esp_task_wdt_init(WDT_TIMEOUT_S, true);
  esp_task_wdt_add(nullptr);
}

void loop() {
  esp_task_wdt_reset();
  maintainWifi();

  if (g_captureFailStreak.load() >= CAPTURE_FAILURES_BEFORE_REBOOT) {
    rebootAfter(100, "camera: too many failed captures");
  }

  if (g_pushEnabled && g_wifiUp && (int32_t)(millis() - g_nextPushAt) >= 0) {
    scheduleNextPush(pushFrame());
  }

  delay(10);  // yield to the idle task and the Wi-Fi stack
}
