// Package fixtureset prepares the CRIU 4.2 fixture sets (loop, state,
// tree under ../shared/fixtures/criu-4.2) for the tests that restore
// them, on whatever machine the tests run.
//
// The shipped sets were dumped on another machine, whose CPU enabled
// AVX-512: every thread's FPU state holds AVX-512 components, and the
// programs' glibc picked AVX-512 code paths. On a CPU without those
// components the sets cannot run here, and a restore refuses them
// (restore.ErrCPUFeature). Restorable then gives an equivalent set made
// here and now: the same program, started as the shipped one was, dumped
// by CRIU 4.2.1.
//
//	Restorable(t, name)
//	  setup.sh, copy of images/name          (Shipped)
//	  every core's FPU state runs here? ----> the copy
//	  else, CRIU 4.2.1 built? -------------> start /opt/criu-fixtures/bin/name,
//	                                          criu dump -t PID -D DIR: DIR
//	  else                                    skip, saying both
//
// The package needs pkg/image and pkg/x86, whose own tests use
// internal/testutil: that is why it is not part of testutil.
//
// It is for tests only and never grows into a second public API.
package fixtureset
