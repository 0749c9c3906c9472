global using NUnit.Framework;
global using SpamFilterMilter.Testing;
