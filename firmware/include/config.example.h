// SPDX-License-Identifier: Apache-2.0
//
// Copy this file to include/config.h (git-ignored) and fill it in:
//   cp include/config.example.h include/config.h
#pragma once

// Wi-Fi (2.4 GHz only).
#define WIFI_SSID "your-wifi-ssid"
#define WIFI_PASSWORD "your-wifi-password"

// Base URL of the smartpark server, without a trailing slash. Frames are POSTed to
//   SMARTPARK_URL "/api/cameras/" CAMERA_ID "/frames"
// Use "" to turn push mode off. An https:// URL needs SMARTPARK_CA_CERT below.
#define SMARTPARK_URL "http://192.168.1.10:8080"

// This camera's id in smartpark: the {id} in /api/cameras/{id}/frames (a URL path segment).
#define CAMERA_ID "1"

// The camera's device token, sent as "Authorization: Bearer <DEVICE_TOKEN>".
#define DEVICE_TOKEN "change-me"

// Milliseconds between pushed frames; 0 turns push mode off (the stream on :81 stays on).
// After a failed push the wait doubles per failure, up to 60 s, and resets on success.
#define PUSH_INTERVAL_MS 5000

// Resolution and JPEG quality (0-63, lower is better quality and bigger files).
// Without PSRAM the firmware caps the resolution at FRAMESIZE_SVGA.
#define FRAME_SIZE FRAMESIZE_SVGA
#define JPEG_QUALITY 12

// Optional settings (defaults shown):
// #define CAMERA_VFLIP 0                  // 1 = flip the image vertically (camera mounted upside down)
// #define CAMERA_HMIRROR 0                // 1 = mirror the image horizontally
// #define HTTP_TIMEOUT_MS 10000           // timeout of one push request
// #define PUSH_MAX_BACKOFF_MS 60000       // longest wait after repeated push failures
// #define WIFI_REBOOT_AFTER_MS 300000     // reboot when Wi-Fi stays down this long
// #define CAMERA_INIT_REBOOT_DELAY_MS 10000  // wait before rebooting after a camera init failure
// For an https:// SMARTPARK_URL: the PEM of the CA that signed the server's certificate.
// #define SMARTPARK_CA_CERT "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
