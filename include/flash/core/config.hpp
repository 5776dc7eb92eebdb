#pragma once
// How Flash's non-template code is compiled.
//
// By default Flash is header-only: every function is inline and compiled in each translation
// unit that uses it. Defined in every translation unit, FLASH_SEPARATE_COMPILATION makes the
// headers declare those functions only; exactly one translation unit of the program (or of a
// library shared by several programs) includes <flash/src.hpp> to define them. Programs then
// compile in about half the time, and programs linked to a shared library built from src.hpp
// carry none of Flash's own code (docs/build-time.md).

#if defined(FLASH_SEPARATE_COMPILATION)
#define FLASH_DECL
#else
#define FLASH_DECL inline
#define FLASH_HEADER_ONLY 1
#endif
