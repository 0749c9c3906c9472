global using NUnit.Framework;
global using SpamFilterMilter.Host.Tests.Support;
global using SpamFilterMilter.Testing;
