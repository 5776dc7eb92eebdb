#pragma once
// Flash's non-template code, for programs built with FLASH_SEPARATE_COMPILATION: include this
// in exactly one translation unit (see flash/core/config.hpp and docs/build-time.md).
//
//   // flash.cpp, compiled with -DFLASH_SEPARATE_COMPILATION like the rest of the program
//   #include <flash/src.hpp>

#if !defined(FLASH_SEPARATE_COMPILATION)
#error "<flash/src.hpp> is for FLASH_SEPARATE_COMPILATION builds; header-only builds need no source file"
#endif

#include <flash/flash.hpp>

#include <flash/cli/impl/app.ipp>
#include <flash/exec/impl/runtime.ipp>
