# SPDX-License-Identifier: MIT
# The SPIN models of the waker protocol (t/model/*.pml, doc/MODEL.md),
# included by the top-level Makefile.am.  Run on purpose, never by
# `make check`:
#
#   make check-model                       every configuration below
#   make check-model MODEL_ONLY='tso-*'    those whose name matches
#
# Each configuration is `name expect file -Dflags...`: spin -a makes the
# verifier pan.c, MODEL_CC compiles it, and pan searches the whole state
# space (safety: assertions and end states).  "pass" configurations must
# end with no error and a complete search; "fail" ones are known-broken
# variants and must end with an error and a trail, which is shortened
# (pan -i) and replayed into t/model-out/NAME/trail.txt (story.txt has
# its MSC: lines, the protocol's steps alone).  One line is
# printed per configuration; the target fails if any expectation is not
# met, and skips (status 0) when spin or MODEL_CC is missing.

MODEL_PML = \
	t/model/lifetime.pml \
	t/model/ready.pml \
	t/model/waker.pml
EXTRA_DIST += $(MODEL_PML) doc/MODEL.md

MODEL_SPIN = spin
MODEL_CC = cc
MODEL_ONLY = *
# Full search with state compression; memory capped so that a run that
# grows past it says "search not completed" (a failure here) instead of
# swapping.
MODEL_PAN_CFLAGS = -O2 -w -DSAFETY -DCOLLAPSE -DMEMLIM=2048
MODEL_PAN_FLAGS = -m400000

# name, expectation, model, spin -D flags; one per line, `;` separated,
# sorted by name (the order they run and are printed in).
MODEL_CONFIGS = \
	lifetime pass lifetime; \
	lifetime-gen-mod-2 pass lifetime -DGEN_MOD=2; \
	lifetime-no-gen-check fail lifetime -DNO_GEN_CHECK; \
	pso-eventfd-fails pass waker -DMODEL_PSO -DSIGNAL_FAILS; \
	pso-eventfd-no-producer-fence fail waker -DMODEL_PSO -DNO_PRODUCER_FENCE; \
	pso-pipe pass waker -DMODEL_PSO -DKOBJ_PIPE; \
	pso-pipe-no-fences fail waker -DMODEL_PSO -DKOBJ_PIPE -DNO_FENCES; \
	ready-sc pass ready -DMODEL_SC; \
	ready-sc-cap1 pass ready -DCAP=1; \
	ready-sc-clear-before-take fail ready -DCLEAR_BEFORE_TAKE; \
	ready-sc-eventfd-take-first pass ready -DTAKE_BEFORE_CONSUME; \
	ready-sc-fails fail ready -DSIGNAL_FAILS; \
	ready-sc-fails-owed-check pass ready -DSIGNAL_FAILS -DOWED_CHECK -DNO_HANDLER; \
	ready-sc-fails-owed-check-handler pass ready -DSIGNAL_FAILS -DOWED_CHECK -DMAXFAIL=1; \
	ready-sc-no-clear-fence pass ready -DNO_CLEAR_FENCE; \
	ready-sc-pipe pass ready -DKOBJ_PIPE; \
	ready-sc-pipe-fails-owed-check pass ready -DKOBJ_PIPE -DSIGNAL_FAILS -DOWED_CHECK -DNO_HANDLER; \
	ready-sc-pipe-level pass ready -DKOBJ_PIPE -DLEVEL; \
	ready-sc-pipe-take-first fail ready -DKOBJ_PIPE -DTAKE_BEFORE_CONSUME; \
	ready-sc-reclaim-listed fail ready -DRECLAIM_LISTED; \
	ready-sc-signal-every-push fail ready -DSIGNAL_EVERY_PUSH; \
	ready-tso pass ready -DMODEL_TSO; \
	ready-tso-cap1 pass ready -DMODEL_TSO -DCAP=1; \
	ready-tso-fails-owed-check pass ready -DMODEL_TSO -DSIGNAL_FAILS -DOWED_CHECK -DNO_HANDLER; \
	ready-tso-locked pass ready -DMODEL_TSO -DLOCKED_RMW; \
	ready-tso-locked-no-clear-fence pass ready -DMODEL_TSO -DLOCKED_RMW -DNO_CLEAR_FENCE; \
	ready-tso-no-clear-fence fail ready -DMODEL_TSO -DNO_CLEAR_FENCE; \
	sc-eventfd pass waker -DMODEL_SC; \
	sc-eventfd-3x2 pass waker -DNPROD=3; \
	sc-eventfd-clear-first pass waker -DCLEAR_BEFORE_CONSUME; \
	sc-eventfd-no-fences pass waker -DNO_FENCES; \
	sc-pipe pass waker -DKOBJ_PIPE; \
	sc-pipe-clear-first fail waker -DKOBJ_PIPE -DCLEAR_BEFORE_CONSUME; \
	sc-pipe-fails pass waker -DKOBJ_PIPE -DSIGNAL_FAILS; \
	sc-pipe-level pass waker -DKOBJ_PIPE -DLEVEL; \
	sc-pipe-level-clear-first fail waker -DKOBJ_PIPE -DLEVEL -DCLEAR_BEFORE_CONSUME; \
	tso-eventfd pass waker -DMODEL_TSO; \
	tso-eventfd-3x2 pass waker -DMODEL_TSO -DNPROD=3; \
	tso-eventfd-no-consumer-fence fail waker -DMODEL_TSO -DNO_CONSUMER_FENCE; \
	tso-eventfd-no-fences fail waker -DMODEL_TSO -DNO_FENCES; \
	tso-eventfd-no-producer-fence fail waker -DMODEL_TSO -DNO_PRODUCER_FENCE; \
	tso-pipe pass waker -DMODEL_TSO -DKOBJ_PIPE; \
	tso-pipe-fails pass waker -DMODEL_TSO -DKOBJ_PIPE -DSIGNAL_FAILS; \
	weak-eventfd pass waker -DMODEL_WEAK; \
	weak-pipe-fails pass waker -DMODEL_WEAK -DKOBJ_PIPE -DSIGNAL_FAILS; \
	weak-pipe-fails-3x1 pass waker -DMODEL_WEAK -DKOBJ_PIPE -DSIGNAL_FAILS -DNPROD=3 -DWAKES=1; \
	weak-pipe-no-producer-fence fail waker -DMODEL_WEAK -DKOBJ_PIPE -DNO_PRODUCER_FENCE

check-model:
	@command -v $(MODEL_SPIN) >/dev/null 2>&1 || { \
	  echo "check-model: SKIP: $(MODEL_SPIN) not found (apt-get install spin)"; \
	  exit 0; }; \
	command -v $(MODEL_CC) >/dev/null 2>&1 || { \
	  echo "check-model: SKIP: no C compiler $(MODEL_CC) for pan"; \
	  exit 0; }; \
	ran=0; bad=; \
	confs='$(MODEL_CONFIGS)'; \
	oldifs=$$IFS; IFS=';'; set -f; \
	for conf in $$confs; do \
	  IFS=$$oldifs; set -- $$conf; IFS=';'; \
	  name=$$1 expect=$$2 model=$$3; shift 3; \
	  case $$name in $(MODEL_ONLY)) ;; *) continue;; esac; \
	  ran=$$((ran + 1)); \
	  d=t/model-out/$$name; rm -rf "$$d"; $(MKDIR_P) "$$d"; \
	  cp "$(srcdir)/t/model/$$model.pml" "$$d/" || exit 1; \
	  extra=; test $$expect = fail && extra=-DREACH; \
	  if ! (cd "$$d" && IFS=$$oldifs \
	        && $(MODEL_SPIN) -a "$$@" $$model.pml >spin.log 2>&1 \
	        && $(MODEL_CC) $(MODEL_PAN_CFLAGS) $$extra -o pan pan.c \
	             >cc.log 2>&1); then \
	    echo "check-model: ERROR $$name: spin -a or $(MODEL_CC) failed:"; \
	    cat "$$d/spin.log" "$$d/cc.log" 2>/dev/null; \
	    bad="$$bad $$name"; continue; \
	  fi; \
	  iter=; test $$expect = fail && iter=-i; \
	  (cd "$$d" && ./pan $(MODEL_PAN_FLAGS) $$iter >pan.out 2>&1); \
	  out=$$d/pan.out; \
	  errs=`sed -n 's/.*errors: *\([0-9][0-9]*\).*/\1/p' $$out | tail -n 1`; \
	  states=`sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' $$out | tail -n 1`; \
	  depth=`sed -n 's/.*depth reached \([0-9]*\).*/\1/p' $$out | tail -n 1`; \
	  secs=`sed -n 's/^pan: elapsed time \([0-9.e+-]*\).*/\1/p' $$out | tail -n 1`; \
	  figs="$$states states, depth $$depth, $${secs:-?} s"; \
	  if grep -q 'Search not completed' $$out && test $$expect = pass; then \
	    echo "check-model: FAIL  $$name (search not completed: $$figs)"; \
	    bad="$$bad $$name"; continue; \
	  fi; \
	  if test "$$errs" = 0 && test $$expect = pass; then \
	    echo "check-model: PASS  $$name (no error; $$figs)"; \
	  elif test -n "$$errs" && test "$$errs" != 0 && test $$expect = fail \
	       && test -f "$$d/$$model.pml.trail"; then \
	    what=`grep -m1 '^pan:[0-9]*:' $$out | sed 's/^pan:[0-9]*: *//; s/ (at depth.*//'`; \
	    (cd "$$d" && IFS=$$oldifs && $(MODEL_SPIN) -t -p "$$@" $$model.pml \
	       >trail.txt 2>&1); \
	    sed -n 's/^ *MSC: //p' $$d/trail.txt >$$d/story.txt; \
	    steps=`sed -n 's/.*trail ends after \([0-9]*\) steps.*/\1/p' $$d/trail.txt`; \
	    echo "check-model: XFAIL $$name (expected: $$what; trail of $$steps steps in $$d/trail.txt, its story in story.txt; $$figs)"; \
	  else \
	    echo "check-model: FAIL  $$name (expected $$expect, pan says errors: $${errs:-none}; $$figs; see $$out)"; \
	    bad="$$bad $$name"; \
	  fi; \
	done; \
	IFS=$$oldifs; \
	if test -n "$$bad"; then \
	  echo "check-model: $$ran configurations, expectations not met:$$bad" >&2; \
	  exit 1; \
	fi; \
	echo "check-model: $$ran configurations, all as expected"

clean-local: model-clean
model-clean:
	-rm -rf t/model-out
.PHONY: check-model model-clean
