// Every project's setup: property tests draw from fast-check's "medium" sizes. Its default,
// "small", makes arrays of about ten elements whatever their maxLength, so states that need more
// (an LRU past half its capacity, a channel clock past 32 vbuckets) were seldom reached.
import fc from 'fast-check';

fc.configureGlobal({ baseSize: 'medium' });
