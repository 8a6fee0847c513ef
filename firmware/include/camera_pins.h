// SPDX-License-Identifier: Apache-2.0
//
// Camera pin map of the AI-Thinker ESP32-CAM (OV2640).
#pragma once

#define PWDN_GPIO_NUM 32
#define RESET_GPIO_NUM -1  // no reset line: the driver resets the sensor over SCCB
#define XCLK_GPIO_NUM 0
#define SIOD_GPIO_NUM 26   // SCCB (I2C) data
#define SIOC_GPIO_NUM 27   // SCCB (I2C) clock

#define Y9_GPIO_NUM 35     // D7
#define Y8_GPIO_NUM 34     // D6
#define Y7_GPIO_NUM 39     // D5
#define Y6_GPIO_NUM 36     // D4
#define Y5_GPIO_NUM 21     // D3
#define Y4_GPIO_NUM 19     // D2
#define Y3_GPIO_NUM 18     // D1
#define Y2_GPIO_NUM 5      // D0
#define VSYNC_GPIO_NUM 25
#define HREF_GPIO_NUM 23
#define PCLK_GPIO_NUM 22

#define LED_GPIO_NUM 4     // the white flash LED (active high)
