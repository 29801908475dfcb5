#pragma once
#include <mpi.h>

// Open MPI defines its predefined handles (MPI_COMM_WORLD, MPI_FLOAT, ...) as macros that take the address of
// library globals; Swift cannot import those macros, so these wrappers hand the values out as functions.
static inline MPI_Comm shim_MPI_COMM_WORLD(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm shim_MPI_COMM_NULL(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype shim_MPI_FLOAT(void) { return MPI_FLOAT; }
static inline MPI_Datatype shim_MPI_DOUBLE(void) { return MPI_DOUBLE; }
static inline MPI_Datatype shim_MPI_INT(void) { return MPI_INT; }
static inline MPI_Datatype shim_MPI_BYTE(void) { return MPI_BYTE; }
static inline MPI_Datatype shim_MPI_INT64_T(void) { return MPI_INT64_T; }
static inline MPI_Op shim_MPI_SUM(void) { return MPI_SUM; }
static inline MPI_Op shim_MPI_MAX(void) { return MPI_MAX; }
static inline MPI_Op shim_MPI_MIN(void) { return MPI_MIN; }
static inline void *shim_MPI_IN_PLACE(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler shim_MPI_ERRORS_RETURN(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Errhandler shim_MPI_ERRORS_ARE_FATAL(void) { return MPI_ERRORS_ARE_FATAL; }
static inline int shim_MPI_MAX_ERROR_STRING(void) { return MPI_MAX_ERROR_STRING; }
