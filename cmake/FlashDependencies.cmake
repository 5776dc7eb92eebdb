# The dependencies of flash::flash. FlashConfig.cmake repeats them with find_dependency.
include(GNUInstallDirs)
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(Boost 1.81 CONFIG REQUIRED COMPONENTS context)
find_package(CLI11 2.1 CONFIG REQUIRED)
find_package(fmt 9 CONFIG REQUIRED)
find_package(OpenSSL 3)  # optional: only flash::crypto needs it
