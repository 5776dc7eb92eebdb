#pragma once
// Flash: concurrent command-line programs in C++20. This header brings the whole core library;
// the operations under flash/ops/ are included one by one.

#include <flash/version.hpp>

#include <flash/core/error.hpp>
#include <flash/core/fixed_string.hpp>

#include <flash/exec/awaitable.hpp>
#include <flash/exec/model.hpp>
#include <flash/exec/runtime.hpp>
#include <flash/exec/sleep.hpp>

#include <flash/dispatch/handler_shape.hpp>
#include <flash/dispatch/model_selection.hpp>

#include <flash/cli/app.hpp>
#include <flash/cli/command.hpp>
#include <flash/cli/context.hpp>
#include <flash/cli/exit_code.hpp>
#include <flash/cli/handler_concepts.hpp>
#include <flash/cli/validators.hpp>
