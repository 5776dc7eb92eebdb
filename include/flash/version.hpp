#pragma once

#define FLASH_VERSION_MAJOR 0
#define FLASH_VERSION_MINOR 1
#define FLASH_VERSION_PATCH 0
#define FLASH_VERSION_STRING "0.1.0"

namespace flash {
inline constexpr const char* version_string = FLASH_VERSION_STRING;
}
