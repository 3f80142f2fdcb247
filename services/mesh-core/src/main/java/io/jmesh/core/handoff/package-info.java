/** Handing work from event loops to one background thread without waking it per item. */
package io.jmesh.core.handoff;
