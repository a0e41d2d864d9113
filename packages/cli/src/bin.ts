#!/usr/bin/env node
import { createRegistry } from '@tributary/core';

// Placeholder until the cluster and datasource land: lists the registry's plugins.
const registry = createRegistry();
console.log(`tributary demo: ${registry.list().length} plugins registered`);
