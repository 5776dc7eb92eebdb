include(CMakePackageConfigHelpers)

install(TARGETS flash EXPORT FlashTargets)
if(TARGET flash_crypto)
  install(TARGETS flash_crypto EXPORT FlashTargets)
endif()
install(DIRECTORY include/flash DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT FlashTargets NAMESPACE flash:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Flash)

configure_package_config_file(cmake/FlashConfig.cmake.in
  ${PROJECT_BINARY_DIR}/FlashConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Flash)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/FlashConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES
  ${PROJECT_BINARY_DIR}/FlashConfig.cmake
  ${PROJECT_BINARY_DIR}/FlashConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/FlashLibrary.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Flash)
